# E-mails for the staff. Change the addresses to your own.

# Use case: a participant confirms -> e-mail the staff.
trigger "confirmed_email_staff" {
  description = "E-mail the staff when a participant confirms"
  on          = ["participant.confirmed"]

  action "email" "staff" {
    to      = ["staff@example.com"]
    subject = "Confirmed: ${participant.name} for ${appointment.title}"
    body    = <<-EOT
      ${coalesce(participant.name, "A participant")} confirmed ${appointment.title}
      on ${date_and_time_phrase(appointment.start_time)}.
    EOT
  }
}

# Use case: a reminder could not be delivered -> e-mail the office manager.
trigger "message_failed_email_office" {
  description = "E-mail the office manager when a reminder cannot be delivered"
  on          = ["message.failed"]

  action "email" "office" {
    to      = ["office@example.com"]
    subject = "Reminder to ${coalesce(participant.name, message.to)} failed"
    body    = "A ${message.channel} message to ${message.to} failed: ${message.error_message} (code ${message.error_code})."
  }
}
