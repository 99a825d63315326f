# Actions that wait: a follow-up the day after the visit, and a nudge to
# the front desk that a confirmation cancels, held to the desk's hours.

# Use case: thank the participant the day after the appointment, in the
# morning of their own time zone; not if it was called off meanwhile.
trigger "next_day_follow_up" {
  description = "E-mail the participant the morning after the appointment"
  on          = ["participant.confirmed"]

  action "email" "participant" {
    to      = [participant.email]
    subject = "Thank you for visiting ${appointment.calendar.name}"
    body    = <<-EOT
      Hi ${coalesce(participant.first_name, participant.name, "there")},

      thank you for coming to ${appointment.title}. Reply to this e-mail if
      anything is on your mind.
    EOT

    schedule {
      # The first 10:00-12:00 window at least 12 hours after it ends.
      at = timeadd(appointment.end_time, "12h")
      window {
        time_zone = appointment.time_zone
        from      = "10:00"
        to        = "12:00"
      }
      cancel_on  = ["participant.not_coming", "participant.needs_reschedule", "appointment.deleted"]
      correlate  = "appointment.id"
      late_after = "2h" # a thank-you sent in the afternoon after an outage reads oddly: drop it
    }
  }
}

# Use case: two hours after an invitation, if that participant has not
# confirmed, text the front desk; never between 8 PM and 8 AM or on Sundays.
trigger "unconfirmed_invite_alert" {
  description = "Text the front desk when an invitation is unanswered after 2 hours"
  on          = ["participant.invite_sent"]

  schedule {
    delay     = "2h"
    cancel_on = ["participant.confirmed", "participant.not_coming"]
    # Per participant and appointment: another participant's answer does
    # not cancel it. (appointment.deleted could not be listed: it carries
    # no participant, and validate says so.)
    correlate = "string(appointment.id) + '/' + string(participant.id)"
    window {
      time_zone = appointment.time_zone
      days      = ["mon", "tue", "wed", "thu", "fri", "sat"]
      from      = "08:00"
      to        = "20:00"
    }
  }

  action "sms" "front_desk" {
    to   = "+15550100"
    body = "${participant.name} has not confirmed ${appointment.title} (${day_and_time_phrase(appointment.start_time)}) two hours after the invitation."
  }
}
