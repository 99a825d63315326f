package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A session is a signed cookie, not a server-side record: any node that
// knows the admin token accepts it, so sessions survive restarts and work
// behind a load balancer, and changing the token ends every one. The CSRF
// token of a form is derived from the session's nonce, so it needs no
// storage either.
const (
	cookieName = "hookline_session"
	sessionTTL = 12 * time.Hour
	nonceLen   = 16
)

type sessions struct {
	key   []byte
	admin *[32]byte // sha256 of the admin token; nil: no login
}

type session struct {
	nonce   []byte
	expires time.Time
	csrf    string
}

func newSessions(adminToken string) (*sessions, error) {
	s := &sessions{}
	if adminToken == "" {
		// Without a token there is nothing to log in with; sessions exist
		// only to carry CSRF tokens, and a restart may drop them.
		s.key = make([]byte, 32)
		if _, err := rand.Read(s.key); err != nil {
			return nil, err
		}
		return s, nil
	}
	h := sha256.Sum256([]byte(adminToken))
	s.admin = &h
	mac := hmac.New(sha256.New, h[:])
	mac.Write([]byte("hookline console session v1"))
	s.key = mac.Sum(nil)
	return s, nil
}

func (s *sessions) mac(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// issue makes a new session and its cookie.
func (s *sessions) issue(now time.Time) (*session, *http.Cookie, error) {
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	exp := now.Add(sessionTTL)
	payload := binary.BigEndian.AppendUint64(append([]byte{}, nonce...), uint64(exp.Unix()))
	value := base64.RawURLEncoding.EncodeToString(append(payload, s.mac([]byte("session"), payload)...))
	return s.session(nonce, exp), cookie(value, exp, now), nil
}

func (s *sessions) session(nonce []byte, exp time.Time) *session {
	return &session{nonce: nonce, expires: exp, csrf: base64.RawURLEncoding.EncodeToString(s.mac([]byte("csrf"), nonce))}
}

// cookie is Secure, HttpOnly and SameSite=Strict: browsers keep Secure
// cookies over plain HTTP only on localhost, so anywhere else the console
// must be reached over HTTPS (a proxy in front is fine).
// An expiry not after now clears the cookie.
func cookie(value string, exp, now time.Time) *http.Cookie {
	maxAge := int(exp.Sub(now).Seconds())
	if maxAge <= 0 {
		maxAge = -1 // net/http's way of writing Max-Age=0
	}
	return &http.Cookie{Name: cookieName, Value: value, Path: "/", Expires: exp, MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
}

// read returns the request's valid session, or nil.
func (s *sessions) read(r *http.Request, now time.Time) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) != nonceLen+8+sha256.Size {
		return nil
	}
	payload, sig := b[:nonceLen+8], b[nonceLen+8:]
	if !hmac.Equal(sig, s.mac([]byte("session"), payload)) {
		return nil
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[nonceLen:])), 0)
	if !now.Before(exp) {
		return nil
	}
	return s.session(payload[:nonceLen], exp)
}

func (s *sessions) checkToken(tok string) bool {
	h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return s.admin != nil && subtle.ConstantTimeCompare(h[:], s.admin[:]) == 1
}

// authed runs h with the request's session. Without an admin token a
// visitor gets a session on first sight; with one, a GET without a session
// goes to the login form. Every POST must carry the session's CSRF token.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := c.cfg.Now()
		s := c.sessions.read(r, now)
		if s == nil {
			if r.Method != http.MethodGet {
				c.fail(w, r, nil, http.StatusForbidden, "Your session has ended; open the page again and repeat what you did.")
				return
			}
			if c.sessions.admin != nil {
				next := r.URL.RequestURI()
				if r.URL.Query().Get("part") != "" {
					next = "/" // a refresh of part of a page: go back to a whole page
				}
				http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
				return
			}
			var ck *http.Cookie
			var err error
			if s, ck, err = c.sessions.issue(now); err != nil {
				c.fail(w, r, nil, http.StatusInternalServerError, "No session could be made: "+err.Error())
				return
			}
			http.SetCookie(w, ck)
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, c.cfg.MaxEventBytes+64<<10)
			if err := r.ParseForm(); err != nil {
				if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
					c.fail(w, r, s, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than the %d bytes the server accepts.", tooBig.Limit))
					return
				}
				c.fail(w, r, s, http.StatusBadRequest, "The form could not be read: "+err.Error())
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
				c.cfg.Logger.Warn("console: form without a valid CSRF token refused", "path", r.URL.Path, "remote", r.RemoteAddr)
				c.fail(w, r, s, http.StatusForbidden, "This form is out of date or did not come from this console; open the page again and repeat what you did.")
				return
			}
		}
		h(w, r, s)
	})
}

// safeNext keeps a post-login redirect on this console: a path, never
// another host ("//evil", "/\evil").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.sessions.admin == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	data := loginData{Next: safeNext(r.URL.Query().Get("next"))}
	if c.sessions.read(r, c.cfg.Now()) != nil {
		http.Redirect(w, r, data.Next, http.StatusSeeOther)
		return
	}
	if r.URL.Query().Get("kept") == "0" {
		data.Error = "You logged in, but your browser did not keep the session cookie. It is Secure, so browsers keep it only over HTTPS or on localhost: reach the console through HTTPS."
	}
	c.render(w, r, nil, http.StatusOK, "login", "Log in", "", data)
}

type loginData struct {
	Next, Error string
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if c.sessions.admin == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	next := safeNext(r.PostFormValue("next"))
	now, ip := c.cfg.Now(), clientIP(r.RemoteAddr)
	if wait := c.logins.blocked(ip, now); wait > 0 {
		secs := int(wait.Seconds()) + 1
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		c.render(w, r, nil, http.StatusTooManyRequests, "login", "Log in", "", loginData{Next: next,
			Error: fmt.Sprintf("Too many wrong tokens from your address; try again in %d seconds.", secs)})
		return
	}
	if !c.sessions.checkToken(r.PostFormValue("token")) {
		c.logins.fail(ip, now)
		c.cfg.Logger.Warn("console: login refused", "remote", r.RemoteAddr) // never the token
		c.render(w, r, nil, http.StatusUnauthorized, "login", "Log in", "", loginData{Next: next, Error: "That is not the admin token."})
		return
	}
	_, ck, err := c.sessions.issue(c.cfg.Now())
	if err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "No session could be made: "+err.Error())
		return
	}
	http.SetCookie(w, ck)
	c.cfg.Logger.Info("console: logged in", "remote", r.RemoteAddr)
	// Through the login page once more, which tells a browser that dropped
	// the cookie why it is back there.
	http.Redirect(w, r, "/login?kept=0&next="+url.QueryEscape(next), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	now := c.cfg.Now()
	http.SetCookie(w, cookie("", now, now))
	if c.sessions.admin == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
