package rules

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hookline/hookline/actions"
)

// Twilio is the `twilio` block: how sms actions reach Twilio. Values read
// with env() are kept as references in the Text and resolved by the server.
type Twilio struct {
	AccountSID          actions.Text
	AuthToken           actions.Text
	From                actions.Text
	MessagingServiceSID actions.Text
	APIBaseURL          actions.Text
	DeclRange           hcl.Range
}

// SMTP is the `smtp` block: how email actions reach a mail server.
type SMTP struct {
	Host      actions.Text
	Port      int
	Username  actions.Text
	Password  actions.Text
	From      actions.Text
	TLS       string // "tls", "starttls" or "none"
	DeclRange hcl.Range
}

type providerAttr struct {
	name     string
	required bool
	dst      *actions.Text
	literal  func(string) string
}

// decodeProvider evaluates a provider block's attributes. They may use
// env() and the standard functions, but no event fields.
func (c *checker) decodeProvider(b *hcl.Block, attrs []providerAttr, extra []hcl.AttributeSchema) map[string]*hcl.Attribute {
	schema := &hcl.BodySchema{Attributes: extra}
	for _, a := range attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a.name, Required: a.required})
	}
	content, diags := b.Body.Content(schema)
	c.diags = append(c.diags, diags...)
	funcs := stdFunctions()
	funcs["env"] = envFunction(c.set.secrets.ref)
	ctx := &hcl.EvalContext{Functions: funcs}
	for _, pa := range attrs {
		a, ok := content.Attributes[pa.name]
		if !ok {
			continue
		}
		c.collectEnv(a.Expr)
		v, d := a.Expr.Value(ctx)
		c.diags = append(c.diags, d...)
		if d.HasErrors() {
			continue
		}
		s, err := convert.Convert(v, cty.String)
		if err != nil || !s.IsWhollyKnown() || s.IsNull() {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for " + pa.name,
				Detail:   pa.name + " must be a string.",
				Subject:  a.Expr.Range().Ptr(),
			})
			continue
		}
		raw, marks := s.Unmark()
		text, err := c.set.secrets.text(raw.AsString(), len(marks) > 0)
		if err != nil {
			c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for " + pa.name, Detail: err.Error() + ".", Subject: a.Expr.Range().Ptr()})
			continue
		}
		if pa.literal != nil && !text.Sensitive() {
			if msg := pa.literal(raw.AsString()); msg != "" {
				c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for " + pa.name, Detail: msg, Subject: a.Expr.Range().Ptr()})
			}
		}
		*pa.dst = text
	}
	return content.Attributes
}

func (c *checker) decodeTwilio(b *hcl.Block) *Twilio {
	t := &Twilio{DeclRange: b.DefRange}
	attrs := c.decodeProvider(b, []providerAttr{
		{name: "account_sid", required: true, dst: &t.AccountSID},
		{name: "auth_token", required: true, dst: &t.AuthToken},
		{name: "from", dst: &t.From, literal: checkSender},
		{name: "messaging_service_sid", dst: &t.MessagingServiceSID},
		{name: "api_base_url", dst: &t.APIBaseURL, literal: checkURL},
	}, nil)
	_, hasFrom := attrs["from"]
	_, hasMSID := attrs["messaging_service_sid"]
	if hasFrom == hasMSID {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid twilio block",
			Detail:   "Set exactly one of from (a phone number such as +15550199) or messaging_service_sid.",
			Subject:  b.DefRange.Ptr(),
		})
	}
	return t
}

// checkSender accepts E.164 numbers and Twilio's alphanumeric sender IDs;
// only something that looks like a number is held to E.164.
func checkSender(s string) string {
	if len(s) > 0 && (s[0] == '+' || s[0] >= '0' && s[0] <= '9') {
		return checkPhone(s)
	}
	return ""
}

var smtpTLSModes = []string{"none", "starttls", "tls"}

func (c *checker) decodeSMTP(b *hcl.Block) *SMTP {
	s := &SMTP{DeclRange: b.DefRange, Port: 587, TLS: "starttls"}
	attrs := c.decodeProvider(b, []providerAttr{
		{name: "host", required: true, dst: &s.Host},
		{name: "username", dst: &s.Username},
		{name: "password", dst: &s.Password},
		{name: "from", required: true, dst: &s.From, literal: checkEmail},
	}, []hcl.AttributeSchema{{Name: "port"}, {Name: "tls"}})
	if a, ok := attrs["port"]; ok {
		c.diags = append(c.diags, decodeInt(a, 1, 65535, ", such as 587", &s.Port)...)
	}
	if a, ok := attrs["tls"]; ok {
		var mode string
		c.diags = append(c.diags, decodeString(a, &mode)...)
		if mode != "" && !contains(smtpTLSModes, mode) {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for tls",
				Detail:   fmt.Sprintf("tls must be \"tls\" (implicit TLS, usually port 465), \"starttls\" (usually 587) or \"none\"; got %q.%s", mode, didYouMean(mode, smtpTLSModes)),
				Subject:  a.Expr.Range().Ptr(),
			})
		} else if mode != "" {
			s.TLS = mode
		}
	}
	if s.Username.IsZero() != s.Password.IsZero() {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid smtp block",
			Detail:   "Set both username and password to authenticate, or neither.",
			Subject:  b.DefRange.Ptr(),
		})
	}
	return s
}

// checkProviders reports sms and email actions that have nowhere to send.
func (c *checker) checkProviders() {
	for _, t := range c.set.Triggers {
		for _, a := range t.Actions {
			var missing, example string
			switch {
			case a.Type == "sms" && c.set.Twilio == nil:
				missing, example = "twilio", `twilio { account_sid = env("TWILIO_ACCOUNT_SID") ... }`
			case a.Type == "email" && c.set.SMTP == nil:
				missing, example = "smtp", `smtp { host = "smtp.example.com" ... }`
			default:
				continue
			}
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("No %s block", missing),
				Detail:   fmt.Sprintf("The %s action %s needs a %s block to send with; add %s to any file of the rules directory.", a.Type, a.Address, missing, example),
				Subject:  a.DeclRange.Ptr(),
			})
		}
	}
}
