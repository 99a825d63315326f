# Use case: a message failed -> e-mail the office manager.
trigger "message_failed_email" {
  description = "E-mail the office manager when a reminder cannot be delivered"
  on          = ["message.failed"]

  action "email" "office_manager" {
    to      = ["Office Manager <office@example.com>"]
    subject = "Reminder to ${coalesce(participant.name, message.to)} failed"
    body    = <<-EOT
      A ${message.channel} message to ${message.to} failed: ${message.error_message} (code ${message.error_code}).
      Appointment: ${coalesce(appointment.title, "none")}
    EOT
  }
}
