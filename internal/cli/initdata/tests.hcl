# What each event must fire and render: 'hookline test' runs these, and so
# does the pull-request check. Fixtures are relative to this file.

test "cancel_reply_texts_front_desk" {
  event = "events/participant-replied-cancel.json"
  fires = ["cancel_reply_sms_front_desk.sms.front_desk"]

  expect "cancel_reply_sms_front_desk.sms.front_desk" {
    to   = "+15550100"
    body = "Ann Lee cancelled Dental Cleaning on Tuesday, December 1 at 9:00 AM"
  }
}

test "other_replies_fire_nothing" {
  event = {
    type = "participant.replied"
    data = {
      appointment = { title = "Dental Cleaning" }
      participant = { name = "Ann Lee" }
      message     = { body = "Yes" }
    }
  }
  fires = []
}

test "not_coming_texts_front_desk" {
  event = {
    type = "participant.not_coming"
    data = {
      appointment = { title = "Check-up", start_time = "2026-12-02T16:30:00Z", time_zone = "America/New_York" }
      participant = { name = "Bo Chen" }
    }
  }
  fires = ["not_coming_sms_front_desk.sms.front_desk"]

  expect "not_coming_sms_front_desk.sms.front_desk" {
    body = "Bo Chen is not coming to Check-up, Wednesday at 11:30 AM."
  }
}

test "confirmation_emails_staff" {
  event = {
    type = "participant.confirmed"
    data = {
      appointment = { title = "Massage", start_time = "2026-12-03T15:00:00Z", time_zone = "America/New_York" }
      participant = { name = "Carla Diaz" }
    }
  }
  fires = ["confirmed_email_staff.email.staff"]

  expect "confirmed_email_staff.email.staff" {
    subject = "Confirmed: Carla Diaz for Massage"
    body    = contains("on Thursday, December 3 at 10:00 AM.")
  }
}

test "failed_message_emails_office" {
  event = {
    type = "message.failed"
    data = {
      message = { channel = "sms", to = "+15550100127", error_message = "Unreachable", error_code = "30006" }
    }
  }
  fires = ["message_failed_email_office.email.office"]

  expect "message_failed_email_office.email.office" {
    subject = "Reminder to +15550100127 failed"
  }
}

test "booking_posts_to_crm" {
  event = {
    type = "booking.completed"
    data = {
      booking     = { duration = 60 }
      appointment = { title = "New patient visit" }
      participant = { name = "Eve Moss" }
    }
  }
  fires = ["booking_crm_sync.http.crm"]

  expect "booking_crm_sync.http.crm" {
    headers = { "X-Api-Key" = "(sensitive)" }
  }
}

test "stop_list_posts_opt_out" {
  event = {
    type = "participant.stop_listed"
    data = { participant = { name = "Gus Hale", email = "gus@example.com" } }
  }
  fires = ["stop_list_sync.http.opt_out"]

  expect "stop_list_sync.http.opt_out" {
    body = "{\"email\":\"gus@example.com\",\"phone\":\"\"}"
  }
}
