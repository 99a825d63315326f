# Texts for the front desk. Change the numbers to your own.

# Use case: a participant replies "Cancel" to a reminder -> text the desk.
trigger "cancel_reply_sms_front_desk" {
  description = "Text the front desk when a participant replies Cancel"
  on          = ["participant.replied"]
  when        = "message.body.trim().lowerAscii() == 'cancel'"

  action "sms" "front_desk" {
    to   = "+15550100"
    body = "${participant.name} cancelled ${appointment.title} on ${date_and_time_phrase(appointment.start_time)}"
  }
}

# Use case: a participant will not come, or asks to reschedule -> text the desk.
trigger "not_coming_sms_front_desk" {
  description = "Text the front desk when a participant will not come"
  on          = ["participant.not_coming", "participant.needs_reschedule"]

  action "sms" "front_desk" {
    to   = "+15550100"
    body = "${participant.name} ${event.type == "participant.not_coming" ? "is not coming to" : "needs to reschedule"} ${appointment.title}, ${day_and_time_phrase(appointment.start_time)}."
  }
}
