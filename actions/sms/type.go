package sms

import (
	"fmt"
	"unicode/utf8"

	"github.com/hookline/hookline/actions"
)

// Type is `action "sms"`: a text message sent through Twilio, configured
// by the rule set's `twilio` block.
func Type() *actions.Type {
	return &actions.Type{
		Name: "sms",
		Attrs: []actions.Attr{
			{Name: "to", Kind: actions.Template, Required: true, Check: checkPhone},
			{Name: "body", Kind: actions.Template, Required: true, Check: checkBody},
			// Twilio calls it back with delivery reports: a secret in it
			// would be sent in the clear to Twilio and stored as is.
			{Name: "status_callback", Kind: actions.Template, Check: actions.CheckURL, Plain: true},
		},
		Provider: &actions.Provider{
			Block: "twilio",
			Attrs: []actions.Attr{
				{Name: "account_sid", Kind: actions.Template, Required: true},
				{Name: "auth_token", Kind: actions.Template, Required: true},
				{Name: "from", Kind: actions.Template, Check: checkSender},
				{Name: "messaging_service_sid", Kind: actions.Template},
				{Name: "api_base_url", Kind: actions.Template, Check: actions.CheckURL},
			},
			Check: func(has func(string) bool) string {
				if has("from") == has("messaging_service_sid") {
					return "Set exactly one of from (a phone number such as +15550199) or messaging_service_sid."
				}
				return ""
			},
			Example: `twilio { account_sid = env("TWILIO_ACCOUNT_SID") ... }`,
		},
		New: func(rt actions.Runtime) (actions.Executor, error) {
			s := rt.Settings
			e, err := New(Config{
				AccountSID:          s["account_sid"],
				AuthToken:           s["auth_token"],
				From:                s["from"],
				MessagingServiceSID: s["messaging_service_sid"],
				APIBaseURL:          s["api_base_url"],
				Env:                 rt.Env,
				Allow:               rt.Allow,
			})
			if err != nil {
				return nil, fmt.Errorf("twilio block: %w", err)
			}
			return e, nil
		},
	}
}

func checkPhone(s string) string {
	if isE164(s) {
		return ""
	}
	return fmt.Sprintf("%q is not a phone number in E.164 form, such as +15550100: a plus sign, the country code and the number, digits only.", s)
}

// checkSender accepts E.164 numbers and Twilio's alphanumeric sender IDs;
// only something that looks like a number is held to E.164.
func checkSender(s string) string {
	if len(s) > 0 && (s[0] == '+' || s[0] >= '0' && s[0] <= '9') {
		return checkPhone(s)
	}
	return ""
}

func checkBody(s string) string {
	if n := utf8.RuneCountInString(s); n > MaxBodyChars {
		return fmt.Sprintf("The message is %d characters long; Twilio accepts at most %d.", n, MaxBodyChars)
	}
	return actions.CheckBody(s)
}

// message is an sms delivery's fields, as Type declares them.
type message struct {
	to, body       actions.Text
	statusCallback string
}

func messageOf(d *actions.Delivery) message {
	return message{to: d.Fields.Text("to"), body: d.Fields.Text("body"), statusCallback: d.Fields.Literal("status_callback")}
}
