package email

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/hookline/hookline/actions"
	gomail "github.com/wneessen/go-mail"
)

// compose builds the message. Every failure here is Permanent: the same
// delivery would fail the same way on every retry.
func (e *Executor) compose(d *actions.Delivery, m *message, red *actions.Redactor) (msg *gomail.Msg, msgID string, out actions.Outcome, ok bool) {
	msgID, err := e.messageID(d.ID)
	if err != nil {
		return nil, "", permanent("%v", err), false
	}

	var rcpts [3][]*mail.Address
	for i, field := range []string{"to", "cc", "bcc"} {
		texts := [][]actions.Text{m.to, m.cc, m.bcc}[i]
		for j, t := range texts {
			list, err := e.addresses(fmt.Sprintf("email %s[%d]", field, j), t, red)
			if err != nil {
				return nil, "", permanent("%v", err), false
			}
			rcpts[i] = append(rcpts[i], list...)
		}
	}
	if len(rcpts[0])+len(rcpts[1])+len(rcpts[2]) == 0 {
		return nil, "", permanent("email has no recipients; set at least one of to, cc or bcc"), false
	}
	var replyTo []*mail.Address
	if !m.replyTo.IsZero() {
		if replyTo, err = e.addresses("email reply_to", m.replyTo, red); err != nil {
			return nil, "", permanent("%v", err), false
		}
	}

	subject, err := m.subject.Resolve(e.env)
	if err != nil {
		return nil, "", permanent("email subject: %v", err), false
	}
	if strings.ContainsAny(subject, "\r\n") {
		return nil, "", permanent("email subject %q contains a line break (CR or LF), which could inject mail headers; refusing to send", m.subject.Redacted()), false
	}
	body, err := m.body.Resolve(e.env)
	if err != nil {
		return nil, "", permanent("email body: %v", err), false
	}
	html, err := m.htmlBody.Resolve(e.env)
	if err != nil {
		return nil, "", permanent("email html_body: %v", err), false
	}
	if !utf8.ValidString(subject) || !utf8.ValidString(body) || !utf8.ValidString(html) {
		return nil, "", permanent("email subject or body is not valid UTF-8"), false
	}
	for _, f := range []struct {
		name, text string
		multiline  bool
	}{{"email subject", subject, false}, {"email body", body, true}, {"email html_body", html, true}} {
		if err := actions.CheckText(f.name, f.text, f.multiline); err != nil {
			return nil, "", permanent("%v", err), false
		}
	}

	// go-mail's default User-Agent advertises the library and its version
	// to every recipient; it says nothing useful about the message.
	msg = gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(e.from)
	// An address header set to an empty list is written as an empty
	// header ("Cc:"), so only non-empty ones are set.
	for i, h := range []gomail.AddrHeader{gomail.HeaderTo, gomail.HeaderCc, gomail.HeaderBcc} {
		if len(rcpts[i]) > 0 {
			msg.SetAddrHeaderFromMailAddress(h, rcpts[i]...)
		}
	}
	if len(replyTo) > 0 {
		msg.ReplyToMailAddress(replyTo...)
	}
	msg.Subject(subject)
	msg.SetMessageIDWithValue(msgID)
	// RFC 3834: tells vacation responders and ticket systems not to answer
	// a machine, which could otherwise start a mail loop with a rule.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, body)
	if html != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, html)
	}
	return msg, "<" + msgID + ">", actions.Outcome{}, true
}

// addresses resolves one entry of an address field. An entry may hold
// several comma-separated addresses, so that one env() variable can name a
// whole team; but one rendered from the event must hold exactly one, or
// whoever sends events could add recipients ("a@example.com,
// victim@evil.com").
func (e *Executor) addresses(field string, t actions.Text, red *actions.Redactor) ([]*mail.Address, error) {
	s, err := t.Resolve(e.env)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", field, err)
	}
	// net/mail treats CRLF followed by a space as folding white space and
	// would accept it; a line break has no business in a rendered address.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%s %q contains a line break (CR or LF), which could inject mail headers; refusing to send", field, t.Redacted())
	}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%s %q is empty", field, t.Redacted())
	}
	// net/mail lets bidirectional controls through in names and local
	// parts, where they can make one address read as another.
	if err := actions.CheckText(field, s, false); err != nil {
		return nil, err
	}
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a valid email address (%v); expected e.g. ops@example.com or \"Ops\" <ops@example.com>", field, t.Redacted(), err)
	}
	if len(list) != 1 && t.FromEvent() {
		// The count, not the text: it may hold env() values.
		what := "more than one address"
		if len(list) == 0 {
			what = "no address"
		}
		return nil, fmt.Errorf("%s: the address comes from the event and holds %s (%d found); only a rule's own text or an env() value may list several, separated by commas", field, what, len(list))
	}
	if t.Sensitive() {
		// Servers echo the bare address, which need not appear verbatim in
		// the variable ("Ops <ops@example.com>", stray spaces).
		for _, a := range list {
			red.Add(a.Address, a.Name)
		}
	}
	return list, nil
}

// messageID derives the Message-ID from the delivery id, so that every retry
// of a delivery carries the same one and recipients' mail systems can tell a
// resend from a new message.
func (e *Executor) messageID(id string) (string, error) {
	if id == "" {
		return "", errors.New("delivery has no id, so no stable Message-ID can be made")
	}
	left := id
	if !isDotAtom(id) || len(id) > 128 {
		// An id that is not a valid msg-id left part is hashed, not
		// escaped: escaping could make two ids collide.
		sum := sha256.Sum256([]byte(id))
		left = "h" + hex.EncodeToString(sum[:16])
	}
	return left + "@" + e.idDomain, nil
}

// isDotAtom reports whether s is an RFC 5322 dot-atom-text of ASCII.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}
