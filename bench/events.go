package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The load's events are Apptoto CloudEvents whose id carries the sequence
// number and the moment the request was made: "bench-<seq>-<unix nanos>".
// Templates put event.id into every delivery (a header or the body), so the
// receiver can tell which event a delivery belongs to and how long it took,
// without asking the server.
const ceidPrefix = "bench-"

const eventSource = "https://app.apptoto.com/accounts/4242"

func ceid(seq uint64, sent int64) string {
	return ceidPrefix + strconv.FormatUint(seq, 10) + "-" + strconv.FormatInt(sent, 10)
}

// eventGen makes the load's events. Each event's content is a pure function
// of (seed, seq, send time), so an event whose answer was lost can be sent
// again byte for byte, as a real sender retries.
type eventGen struct {
	seed  uint64
	urls  []string // POST targets, one per node
	typeW int

	mu   sync.Mutex
	sent []int64 // by seq: send time, unix nanos
}

func newEventGen(seed uint64, urls []string) *eventGen {
	g := &eventGen{seed: seed, urls: urls}
	for _, t := range eventTypes {
		g.typeW += t.weight
	}
	return g
}

// next reserves the next sequence number and stamps it with now.
func (g *eventGen) next() (uint64, int64) {
	now := time.Now().UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	seq := uint64(len(g.sent))
	g.sent = append(g.sent, now)
	return seq, now
}

// count is how many events were handed out.
func (g *eventGen) count() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return uint64(len(g.sent))
}

func (g *eventGen) sentAt(seq uint64) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if seq >= uint64(len(g.sent)) {
		return 0
	}
	return g.sent[seq]
}

var cloudEventHeader = http.Header{"Content-Type": {"application/cloudevents+json"}}

// targeter hands vegeta one new event per request. The sequence number is
// also in the URL's query (which the server ignores) because a vegeta
// Result carries the URL but not the request body: that is how an answer,
// or an error, is tied back to its event.
func (g *eventGen) targeter() vegeta.Targeter {
	return func(t *vegeta.Target) error {
		seq, sent := g.next()
		t.Method = http.MethodPost
		t.URL = g.url(seq)
		t.Body = g.body(seq, sent)
		t.Header = cloudEventHeader
		return nil
	}
}

func (g *eventGen) url(seq uint64) string {
	return g.urls[seq%uint64(len(g.urls))] + "/v1/events?bench_seq=" + strconv.FormatUint(seq, 10)
}

// seqOfURL reads back the sequence number targeter put in a URL.
func seqOfURL(u string) (uint64, bool) {
	_, q, ok := strings.Cut(u, "?bench_seq=")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(q, 10, 64)
	return n, err == nil
}

// The JSON shapes of schema.hcl's objects (only what the load fills in).
type (
	ceEvent struct {
		SpecVersion     string `json:"specversion"`
		ID              string `json:"id"`
		Source          string `json:"source"`
		Type            string `json:"type"`
		Subject         string `json:"subject,omitempty"`
		Time            string `json:"time"`
		DataContentType string `json:"datacontenttype"`
		Data            ceData `json:"data"`
	}
	ceData struct {
		Appointment *appointment `json:"appointment,omitempty"`
		Participant *participant `json:"participant,omitempty"`
		Message     *message     `json:"message,omitempty"`
		Booking     *booking     `json:"booking,omitempty"`
	}
	calendar struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	appointment struct {
		ID                int               `json:"id"`
		ExternalID        string            `json:"external_id,omitempty"`
		Calendar          calendar          `json:"calendar"`
		Title             string            `json:"title"`
		Location          string            `json:"location,omitempty"`
		Content           string            `json:"content,omitempty"`
		StartTime         string            `json:"start_time"`
		EndTime           string            `json:"end_time"`
		PreviousStartTime string            `json:"previous_start_time,omitempty"`
		TimeZone          string            `json:"time_zone"`
		AllDay            bool              `json:"all_day"`
		CustomData        map[string]string `json:"custom_data,omitempty"`
	}
	participant struct {
		ID                    int    `json:"id"`
		Name                  string `json:"name"`
		FirstName             string `json:"first_name"`
		LastName              string `json:"last_name"`
		Phone                 string `json:"phone,omitempty"`
		NormalizedPhone       string `json:"normalized_phone,omitempty"`
		Email                 string `json:"email,omitempty"`
		ReminderState         string `json:"reminder_state"`
		PreviousReminderState string `json:"previous_reminder_state,omitempty"`
		BookingState          string `json:"booking_state,omitempty"`
		CheckinState          string `json:"checkin_state,omitempty"`
	}
	message struct {
		ID           int    `json:"id"`
		Channel      string `json:"channel"`
		Direction    string `json:"direction"`
		To           string `json:"to"`
		From         string `json:"from"`
		Subject      string `json:"subject,omitempty"`
		Body         string `json:"body"`
		Status       string `json:"status"`
		ErrorCode    string `json:"error_code,omitempty"`
		ErrorMessage string `json:"error_message,omitempty"`
	}
	bookingPage struct {
		Name  string `json:"name"`
		Title string `json:"title"`
		URL   string `json:"url"`
	}
	bookingType struct {
		Key   string `json:"key"`
		Label string `json:"label"`
	}
	booking struct {
		BookingPage bookingPage    `json:"booking_page"`
		Type        bookingType    `json:"type"`
		StartTime   string         `json:"start_time"`
		Duration    int            `json:"duration"`
		Timezone    string         `json:"timezone"`
		Fields      map[string]any `json:"fields"`
	}
)

var (
	calendarNames = []string{"Dr. Rivera", "Dr. Chen", "Hygiene 1", "Hygiene 2", "Massage Room", "Physio A", "Physio B",
		"Dr. Okafor", "Dr. Novak", "Front Office", "Dr. Haddad", "Consult Room", "Dr. Lindqvist", "Imaging", "Dr. Santos",
		"Pediatrics", "Dr. Ito", "Surgery 2", "Dr. Mensah", "Telehealth"}
	titles      = []string{"Dental Cleaning", "Root Canal", "Deep Tissue Massage", "New patient visit", "Follow-up", "Annual physical", "Consultation", "X-ray", "Physiotherapy session", "Vaccination"}
	firstNames  = []string{"Ann", "Carla", "Dev", "Eve", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma"}
	lastNames   = []string{"Lee", "Diaz", "Patel", "Moss", "Haddad", "Kim", "Tanaka", "Silva", "Brown", "Mensah", "Novak", "Garcia", "Khan", "Ali", "Rao", "Byrne", "Costa", "Berg", "Singh", "Osei"}
	timeZones   = []string{"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix", "Europe/London"}
	states      = []string{"sent", "confirmed", "not_coming", "needs_reschedule", "no_response", "pending"}
	replies     = []string{"Yes", "C", "Cancel", "yes please", "Running 10 minutes late", "Can we move this to Thursday?", "ok thanks", "STOP", "Y", "Is parking available?"}
	outbound    = []string{"Reminder: %s on %s. Reply C to confirm or X to cancel.", "Your appointment %s is on %s. See you then!", "Please confirm %s on %s."}
	bookingKeys = []bookingType{{"new_patient", "New patient visit"}, {"follow_up", "Follow-up"}, {"consult", "Consultation"}, {"cleaning", "Cleaning"}}
)

// body returns the event sent as number seq at time sent.
func (g *eventGen) body(seq uint64, sent int64) []byte {
	r := rand.New(rand.NewPCG(g.seed, seq))
	pick := r.IntN(g.typeW)
	et := eventTypes[0]
	for _, t := range eventTypes {
		if pick < t.weight {
			et = t
			break
		}
		pick -= t.weight
	}
	now := time.Unix(0, sent).UTC()
	loc := 1 + r.IntN(locations)
	cal := calendar{ID: loc, Name: calendarNames[loc-1]}
	tz := timeZones[r.IntN(len(timeZones))]
	// Appointments are on the hour or half hour within the next 3 weeks.
	start := now.Truncate(30 * time.Minute).Add(time.Duration(1+r.IntN(21*48)) * 30 * time.Minute)
	apptID := 500000 + r.IntN(200000)
	partID := 900000 + r.IntN(200000)
	ev := ceEvent{
		SpecVersion: "1.0", ID: ceid(seq, sent), Source: eventSource, Type: et.name,
		Time: now.Format(time.RFC3339Nano), DataContentType: "application/json",
	}
	if et.carries&carriesAppointment != 0 {
		a := &appointment{
			ID: apptID, ExternalID: fmt.Sprintf("ext-%d", apptID), Calendar: cal, Title: titles[r.IntN(len(titles))],
			Location: fmt.Sprintf("%d Main St, Suite %d", 100+loc, 1+r.IntN(20)), StartTime: start.Format(time.RFC3339),
			EndTime: start.Add(time.Duration(30+30*r.IntN(3)) * time.Minute).Format(time.RFC3339), TimeZone: tz,
			AllDay:     r.IntN(50) == 0,
			CustomData: map[string]string{"source": []string{"web", "phone", "import"}[r.IntN(3)]},
		}
		if et.name == "appointment.modified" {
			a.PreviousStartTime = start.Add(-24 * time.Hour).Format(time.RFC3339)
		}
		if r.IntN(40) == 0 {
			a.CustomData["vip"] = "skip"
		}
		ev.Data.Appointment = a
		ev.Subject = fmt.Sprintf("appointments/%d", apptID)
	}
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	phone := fmt.Sprintf("+1555%07d", r.IntN(10000000))
	if et.carries&carriesParticipant != 0 {
		p := &participant{
			ID: partID, Name: first + " " + last, FirstName: first, LastName: last,
			Phone: fmt.Sprintf("(%s) %s-%s", phone[2:5], phone[5:8], phone[8:]), NormalizedPhone: phone,
			ReminderState: states[r.IntN(len(states))], PreviousReminderState: states[r.IntN(len(states))],
		}
		if r.IntN(5) > 0 { // a fifth of participants have no e-mail address
			p.Email = strings.ToLower(first+"."+last) + "@example.org"
		}
		if strings.Contains(et.name, "booking") {
			p.BookingState = []string{"requested", "accepted", "declined", "canceled"}[r.IntN(4)]
		}
		if et.name == "participant.checkin_state_changed" {
			p.CheckinState = []string{"checked_in", "late", "no_show"}[r.IntN(3)]
		}
		ev.Data.Participant = p
	}
	if et.carries&carriesMessage != 0 {
		m := &message{ID: 7000000 + int(seq), Channel: "sms", Direction: "outbound", To: phone, From: "+15550199", Status: "delivered"}
		switch et.name {
		case "participant.replied", "message.received":
			m.Direction, m.To, m.From = "inbound", "+15550199", phone
			m.Body = replies[r.IntN(len(replies))]
			m.Status = "received"
		default:
			m.Body = fmt.Sprintf(outbound[r.IntN(len(outbound))], titles[r.IntN(len(titles))], start.Format("Mon Jan 2 at 3:04 PM"))
			if r.IntN(4) == 0 {
				m.Channel, m.To, m.From, m.Subject = "email", strings.ToLower(first)+"@example.org", "frontdesk@example.com", "Your appointment"
			}
		}
		if et.name == "message.failed" {
			m.Status = "failed"
			if r.IntN(10) > 0 {
				m.ErrorCode, m.ErrorMessage = "30003", "Unreachable destination handset"
			}
		}
		ev.Data.Message = m
	}
	if et.carries&carriesBooking != 0 {
		bt := bookingKeys[r.IntN(len(bookingKeys))]
		ev.Data.Booking = &booking{
			BookingPage: bookingPage{Name: fmt.Sprintf("location-%d", loc), Title: "Book with " + cal.Name, URL: fmt.Sprintf("https://book.example.com/location-%d", loc)},
			Type:        bt, StartTime: start.Format(time.RFC3339), Duration: []int{10, 15, 30, 45, 60}[r.IntN(5)], Timezone: tz,
			Fields: map[string]any{"insurance": []string{"Acme Health", "None", "Blue Shield"}[r.IntN(3)], "first_visit": r.IntN(2) == 0,
				"notes": "Please call if running late"},
		}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // only plain structs: cannot fail
	}
	return b
}
