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
  now   = "2026-11-30T09:00:00Z"
  event = "events/participant-confirmed.json"
  fires = ["confirmed_email_staff.email.staff", "next_day_follow_up.email.participant"]

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

# The thank-you waits for the first 10:00-12:00 window, Los Angeles time,
# at least 12 hours after the appointment ends (19:00 UTC, 11:00 there).
test "follow_up_the_morning_after" {
  now   = "2026-11-30T09:00:00Z"
  event = "events/participant-confirmed.json"
  fires = ["confirmed_email_staff.email.staff", "next_day_follow_up.email.participant"]

  expect "next_day_follow_up.email.participant" {
    at      = "2026-12-04T10:00:00-08:00"
    to      = "carla@example.org"
    subject = "Thank you for visiting Massage Room"
  }
}

# Sent on a Friday at 19:30 in Los Angeles: two hours later the desk is
# closed, so the text waits for Saturday 08:00. Carla's confirmation
# cancels it; another participant's would not.
test "unanswered_invite_waits_for_the_desk_and_is_canceled_by_confirmation" {
  now   = "2026-12-05T03:30:05Z"
  event = "events/participant-invite-sent.json"
  fires = ["unconfirmed_invite_alert.sms.front_desk"]

  expect "unconfirmed_invite_alert.sms.front_desk" {
    at   = "2026-12-05T08:00:00-08:00"
    body = "Carla Diaz has not confirmed Deep Tissue Massage (Tuesday at 10:00 AM) two hours after the invitation."
  }

  then {
    now     = "2026-12-05T04:00:00Z"
    event   = "events/participant-confirmed.json"
    cancels = ["unconfirmed_invite_alert.sms.front_desk"]
  }
}
