package email

import (
	"fmt"
	"net/mail"

	"github.com/hookline/hookline/actions"
)

// Type is `action "email"`: a message sent over SMTP, configured by the
// rule set's `smtp` block.
func Type() *actions.Type {
	return &actions.Type{
		Name: "email",
		Attrs: []actions.Attr{
			{Name: "to", Kind: actions.TemplateList, Required: true, Check: checkAddress},
			{Name: "cc", Kind: actions.TemplateList, Check: checkAddress},
			{Name: "bcc", Kind: actions.TemplateList, Check: checkAddress},
			{Name: "reply_to", Kind: actions.Template, Check: checkAddress},
			{Name: "subject", Kind: actions.Template, Required: true, Check: checkSubject},
			{Name: "body", Kind: actions.Template, Required: true, Check: actions.CheckBody},
			{Name: "html_body", Kind: actions.Template, Check: actions.CheckBody},
		},
		Provider: &actions.Provider{
			Block: "smtp",
			Attrs: []actions.Attr{
				{Name: "host", Kind: actions.Template, Required: true},
				// No default: the executor picks the usual port of the tls
				// mode (465, 587 or 25).
				{Name: "port", Kind: actions.Number, Min: 1, Max: 65535, Hint: ", such as 587"},
				{Name: "username", Kind: actions.Template},
				{Name: "password", Kind: actions.Template},
				{Name: "from", Kind: actions.Template, Required: true, Check: checkAddress},
				{Name: "tls", Kind: actions.Choice, Choices: []string{TLSNone, TLSStartTLS, TLSImplicit}, Default: TLSStartTLS,
					Hint: ` ("tls" is implicit TLS, usually port 465; "starttls" usually 587)`},
			},
			Check: func(has func(string) bool) string {
				if has("username") != has("password") {
					return "Set both username and password to authenticate, or neither."
				}
				return ""
			},
			Example: `smtp { host = "smtp.example.com" ... }`,
		},
		New: func(rt actions.Runtime) (actions.Executor, error) {
			s := rt.Settings
			e, err := New(Config{
				Host:     s["host"],
				Port:     s.Int("port"),
				TLS:      s["tls"],
				Username: s["username"],
				Password: s["password"],
				From:     s["from"],
				Env:      rt.Env,
				Allow:    rt.Allow,
			})
			if err != nil {
				return nil, fmt.Errorf("smtp block: %w", err)
			}
			return e, nil
		},
	}
}

func checkAddress(s string) string {
	if _, err := mail.ParseAddress(s); err != nil {
		return fmt.Sprintf("%q is not a valid e-mail address (%v); write it as name@example.com or \"Name <name@example.com>\".", s, err)
	}
	return actions.CheckLine(s)
}

// checkSubject names a line break as the header injection it would be.
func checkSubject(s string) string {
	if msg := actions.CheckHeaderValue(s); msg != "" {
		return msg
	}
	return actions.CheckLine(s)
}

// message is an email delivery's fields, as Type declares them.
type message struct {
	to, cc, bcc                      []actions.Text
	replyTo, subject, body, htmlBody actions.Text
}

func messageOf(d *actions.Delivery) *message {
	f := d.Fields
	return &message{
		to: f.List("to"), cc: f.List("cc"), bcc: f.List("bcc"),
		replyTo: f.Text("reply_to"), subject: f.Text("subject"), body: f.Text("body"), htmlBody: f.Text("html_body"),
	}
}
