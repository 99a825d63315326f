package actions

// Rendered is the delivery's content as people and tests see it: every
// secret shown as "(sensitive)". Values are strings, lists of strings (e-mail
// recipients) or maps of strings (headers). Empty fields are left out.
func (d *Delivery) Rendered() map[string]any {
	out := map[string]any{}
	put := func(name string, t Text) {
		if len(t) > 0 {
			out[name] = t.Redacted()
		}
	}
	putList := func(name string, list []Text) {
		if len(list) == 0 {
			return
		}
		s := make([]string, len(list))
		for i, t := range list {
			s[i] = t.Redacted()
		}
		out[name] = s
	}
	switch {
	case d.HTTP != nil:
		out["method"] = d.HTTP.Method
		put("url", d.HTTP.URL)
		if len(d.HTTP.Headers) > 0 {
			h := make(map[string]string, len(d.HTTP.Headers))
			for _, hd := range d.HTTP.Headers {
				h[hd.Name] = hd.Value.Redacted()
			}
			out["headers"] = h
		}
		put("body", d.HTTP.Body)
		if d.HTTP.SigningSecret.Sensitive() {
			out["signing_secret"] = "(sensitive)"
		}
	case d.SMS != nil:
		put("to", d.SMS.To)
		put("body", d.SMS.Body)
		if d.SMS.StatusCallback != "" {
			out["status_callback"] = d.SMS.StatusCallback
		}
	case d.Email != nil:
		putList("to", d.Email.To)
		putList("cc", d.Email.Cc)
		putList("bcc", d.Email.Bcc)
		put("reply_to", d.Email.ReplyTo)
		put("subject", d.Email.Subject)
		put("body", d.Email.Body)
		put("html_body", d.Email.HTMLBody)
	}
	return out
}
