package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hookline/hookline/actions"
)

// Standard Webhooks header names (https://www.standardwebhooks.com).
const (
	headerID        = "webhook-id"
	headerTimestamp = "webhook-timestamp"
	headerSignature = "webhook-signature"
	secretPrefix    = "whsec_"
)

// sign adds the Standard Webhooks headers for body. The id is the delivery
// id, so a receiver can deduplicate the queue's retries by it.
func (e *Executor) sign(d *actions.Delivery, secret actions.Text, h http.Header, body []byte, r *resolver) error {
	s, err := r.resolve("signing_secret", secret)
	if err != nil {
		return err
	}
	encoded := strings.TrimPrefix(s, secretPrefix)
	r.Add(s, encoded)
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		// base64's own error reports only an offset, never the input.
		return errors.New("signing_secret is invalid: want whsec_ followed by standard base64 (" + err.Error() + ")")
	}
	if len(key) == 0 {
		return errors.New("signing_secret is invalid: the key is empty")
	}
	if d.ID == "" {
		return errors.New("cannot sign: the delivery has no id")
	}
	ts := strconv.FormatInt(e.cfg.Now().Unix(), 10)

	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(d.ID))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))

	// Set, not Add: the signature must be ours even if the rule set these.
	h.Set(headerID, d.ID)
	h.Set(headerTimestamp, ts)
	h.Set(headerSignature, "v1,"+sig)
	return nil
}
