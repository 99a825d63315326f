// Package webhook performs `action "http"` deliveries: one HTTP request per
// attempt, signed per the Standard Webhooks spec when the action has a
// signing secret, dialled through an SSRF guard, and classified into an
// actions.Outcome so the queue knows whether to stop, give up or try again.
//
// The executor retries only connection failures, and only briefly, inside a
// single attempt; the long retry schedule belongs to the queue. Secrets
// resolved for an attempt are scrubbed from everything it reports.
package webhook
