# Rule tests: `hookline test examples/apptoto` runs them.

test "cancel_reply_texts_front_desk" {
  event = "events/participant-replied-cancel.json"
  fires = ["front_desk_cancel_alert.sms.front_desk"]

  expect "front_desk_cancel_alert.sms.front_desk" {
    to   = "+15550100"
    body = "Ann Lee cancelled Dental Cleaning on Tuesday, December 1 at 9:00 AM"
  }
}

test "other_replies_fire_nothing" {
  event = "events/participant-replied-yes.json"
  fires = []
}

test "confirmation_emails_staff" {
  event = "events/participant-confirmed.json"
  fires = ["confirmed_email_staff.email.staff"]

  expect "confirmed_email_staff.email.staff" {
    to      = "staff@example.com"
    subject = "Confirmed: Carla Diaz for Deep Tissue Massage"
    body    = contains("on Thursday, December 3 at 10:00 AM (Massage Room)")
  }
}

test "not_coming_texts_front_desk" {
  event = "events/participant-not-coming.json"
  fires = ["not_coming_sms_front_desk.sms.front_desk"]

  expect "not_coming_sms_front_desk.sms.front_desk" {
    body = regex("^Dev Patel \\(\\(555\\) 010-0125\\) is not coming to Root Canal, Friday at 7:00 AM\\.$")
  }
}

test "needs_reschedule_texts_front_desk" {
  event = {
    type = "participant.needs_reschedule"
    data = {
      appointment = { title = "Check-up", start_time = "2026-12-02T16:30:00Z", time_zone = "America/New_York" }
      participant = { name = "Bo Chen", phone = "+15550100124" }
    }
  }
  fires = ["not_coming_sms_front_desk.sms.front_desk"]

  expect "not_coming_sms_front_desk.sms.front_desk" {
    body = contains("needs to reschedule Check-up, Wednesday at 11:30 AM")
  }
}

test "booking_posts_to_crm" {
  event = "events/booking-completed.json"
  fires = ["crm_booking_sync.http.crm"]

  expect "crm_booking_sync.http.crm" {
    method  = "POST"
    url     = "https://crm.example.com/hooks/bookings"
    headers = { "X-Api-Key" = "(sensitive)" }
    body    = contains("\"crm_hint\": \"passed through untouched\"")
  }
}

test "failed_message_emails_office" {
  event = "events/message-failed.json"
  fires = ["message_failed_email.email.office_manager"]

  expect "message_failed_email.email.office_manager" {
    to      = "Office Manager <office@example.com>"
    subject = "Reminder to Finn Ode failed"
    body    = contains("failed: Landline or unreachable carrier (code 30006)")
  }
}

test "stop_list_posts_opt_out" {
  event = "events/participant-stop-listed.json"
  fires = ["stop_list_sync.http.opt_out"]

  expect "stop_list_sync.http.opt_out" {
    body = "{\"email\":\"gus@example.com\",\"name\":\"Gus Hale\",\"phone\":\"+15550100128\",\"reason\":\"apptoto_stop_list\"}"
  }
}

test "stop_list_without_contact_is_ignored" {
  event = {
    type = "participant.stop_listed"
    data = { participant = { name = "Nameless" } }
  }
  fires = []
}
