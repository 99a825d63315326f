# Texts and e-mails for the front desk when participants answer a reminder.

trigger "front_desk_cancel_alert" {
  description = "Text the front desk when a participant replies Cancel"
  on          = ["participant.replied"]
  when        = "message.body.trim().lowerAscii() == 'cancel'"
  enabled     = true

  action "sms" "front_desk" {
    to   = "+15550100"
    body = "${participant.name} cancelled ${appointment.title} on ${date_and_time_phrase(appointment.start_time)}"
  }

  action "email" "manager" {
    enabled = false
    to      = ["manager@example.com"]
    subject = "Cancellation: ${participant.name}"
    body    = <<-EOT
      ${participant.name} will not come to ${appointment.title}.
    EOT
  }
}

# Use case: participant confirmed -> e-mail the staff.
trigger "confirmed_email_staff" {
  description = "E-mail the staff when a participant confirms"
  on          = ["participant.confirmed"]

  action "email" "staff" {
    to       = ["staff@example.com"]
    reply_to = "frontdesk@example.com"
    subject  = "Confirmed: ${participant.name} for ${appointment.title}"
    body     = <<-EOT
      ${coalesce(participant.name, "A participant")} confirmed ${appointment.title}
      on ${date_and_time_phrase(appointment.start_time)} (${appointment.calendar.name}).
    EOT
  }
}

# Use case: participant not coming -> text the front desk.
trigger "not_coming_sms_front_desk" {
  description = "Text the front desk when a participant will not come"
  on          = ["participant.not_coming", "participant.needs_reschedule"]

  action "sms" "front_desk" {
    to   = "+15550100"
    body = "${participant.name} (${participant.phone}) ${event.type == "participant.not_coming" ? "is not coming to" : "needs to reschedule"} ${appointment.title}, ${day_and_time_phrase(appointment.start_time)}."
  }
}
