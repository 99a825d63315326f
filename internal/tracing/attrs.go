package tracing

import "go.opentelemetry.io/otel/attribute"

// The attributes Hookline's spans carry. Every one is an identifier, a
// name from the rule file or a number: never a recipient, a URL, a body or
// an error text, which may all hold personal data or a peer's answer.
const (
	EventID    = attribute.Key("hookline.event.id")    // ours, evt_…, as the API and the logs know it
	EventType  = attribute.Key("hookline.event.type")  // the CloudEvents type, from the catalogue
	Deliveries = attribute.Key("hookline.deliveries")  // deliveries an accepted event fired
	Duplicate  = attribute.Key("hookline.duplicate")   // the event was accepted before: nothing new stored
	DeliveryID = attribute.Key("hookline.delivery.id") // dlv_…
	Trigger    = attribute.Key("hookline.trigger")     // the trigger's name in the rules
	Action     = attribute.Key("hookline.action")      // the action's address, TRIGGER.TYPE.NAME
	ActionType = attribute.Key("hookline.action.type") // http, sms, email, …
	Attempt    = attribute.Key("hookline.attempt")     // the attempt's number, from 1
	Outcome    = attribute.Key("hookline.outcome")     // delivered, retry, permanent, failed, or interrupted
	StatusCode = attribute.Key("hookline.status_code") // the peer's status code (HTTP, SMTP, the SMS API's), 0 for none
	Recorded   = attribute.Key("hookline.recorded")    // false when the store refused the attempt's record
	ErrorCode  = attribute.Key("hookline.error.code")  // intake: the API's error code (body_too_large, …)
	Failure    = attribute.Key("hookline.failure")     // intake: a trigger's filter_error or render_error

	// HTTP server attributes of the intake span, by the OpenTelemetry
	// semantic conventions.
	HTTPMethod = attribute.Key("http.request.method")
	HTTPRoute  = attribute.Key("http.route")
	HTTPStatus = attribute.Key("http.response.status_code")
)
