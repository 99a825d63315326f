# Hookline's event catalogue: every event type Hookline accepts and the typed
# payload it carries. Modelled on Apptoto's API and its 20 webhook triggers.
#
# Syntax (the same in a rules directory, for your own event types):
#   object "NAME" { FIELD = TYPE ... }
#   event "TYPE" { description = "..."  data { NAME = OBJECT | optional(OBJECT) } }
# TYPE is one of: string, integer, number, bool, timestamp (RFC 3339 text),
# any (free-form JSON), list(TYPE), map(TYPE), or the name of an object.
# Every field may be absent or null in an event; see the README ("Absent and
# null values") for what filters and templates then see.

object "calendar" {
  id   = integer
  name = string
}

object "appointment" {
  id                  = integer
  external_id         = string
  calendar            = calendar
  title               = string
  location            = string
  content             = string
  start_time          = timestamp
  end_time            = timestamp
  previous_start_time = timestamp
  time_zone           = string # IANA name, e.g. "America/New_York"
  all_day             = bool
  custom_data         = map(string)
}

object "participant" {
  id                      = integer
  name                    = string
  first_name              = string
  last_name               = string
  phone                   = string
  normalized_phone        = string
  email                   = string
  reminder_state          = string
  previous_reminder_state = string
  booking_state           = string
  checkin_state           = string
}

object "message" {
  id            = integer
  channel       = string # "sms", "email" or "voice"
  direction     = string # "inbound" or "outbound"
  to            = string
  from          = string
  subject       = string
  body          = string
  status        = string
  error_code    = string
  error_message = string
}

object "booking_page" {
  name  = string
  title = string
  url   = string
}

object "booking_type" {
  key   = string
  label = string
}

object "booking" {
  booking_page = booking_page
  type         = booking_type
  start_time   = timestamp
  duration     = integer # minutes
  timezone     = string
  fields       = any # the booking form's answers, as submitted
}

event "appointment.created" {
  description = "An appointment was created."
  data { appointment = appointment }
}

event "appointment.modified" {
  description = "An appointment was changed (time, title, location, ...)."
  data { appointment = appointment }
}

event "appointment.deleted" {
  description = "An appointment was deleted."
  data { appointment = appointment }
}

event "participant.reminder_state_changed" {
  description = "A participant's reminder state changed (previous_reminder_state holds the old one)."
  data {
    appointment = appointment
    participant = participant
  }
}

event "participant.invite_sent" {
  description = "An invitation was sent to a participant."
  data {
    appointment = appointment
    participant = participant
  }
}

event "participant.confirmed" {
  description = "A participant confirmed the appointment."
  data {
    appointment = appointment
    participant = participant
  }
}

event "participant.not_coming" {
  description = "A participant said they are not coming."
  data {
    appointment = appointment
    participant = participant
  }
}

event "participant.needs_reschedule" {
  description = "A participant asked to reschedule."
  data {
    appointment = appointment
    participant = participant
  }
}

event "participant.booking_state_changed" {
  description = "A participant's booking request changed state."
  data {
    appointment = appointment
    participant = participant
    booking     = booking
  }
}

event "participant.booking_accepted" {
  description = "A participant's booking request was accepted."
  data {
    appointment = appointment
    participant = participant
    booking     = booking
  }
}

event "participant.booking_declined" {
  description = "A participant's booking request was declined."
  data {
    appointment = appointment
    participant = participant
    booking     = booking
  }
}

event "participant.booking_canceled" {
  description = "A participant's booking was canceled."
  data {
    appointment = appointment
    participant = participant
    booking     = booking
  }
}

event "participant.checkin_state_changed" {
  description = "A participant checked in, or their check-in state changed."
  data {
    appointment = appointment
    participant = participant
  }
}

event "participant.replied" {
  description = "A participant replied to a message."
  data {
    appointment = appointment
    participant = participant
    message     = message
  }
}

event "participant.stop_listed" {
  description = "A participant was added to the stop list (opted out)."
  data {
    participant = participant
    appointment = optional(appointment)
  }
}

event "booking.completed" {
  description = "Someone completed a booking request on a booking page."
  data {
    booking     = booking
    appointment = appointment
    participant = participant
  }
}

event "booking_page.viewed" {
  description = "A booking page was viewed."
  data { booking = booking }
}

event "message.sent" {
  description = "A message was sent."
  data {
    message     = message
    participant = optional(participant)
    appointment = optional(appointment)
  }
}

event "message.received" {
  description = "A message was received."
  data {
    message     = message
    participant = optional(participant)
    appointment = optional(appointment)
  }
}

event "message.failed" {
  description = "A message could not be delivered."
  data {
    message     = message
    participant = optional(participant)
    appointment = optional(appointment)
  }
}
