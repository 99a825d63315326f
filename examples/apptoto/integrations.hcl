# HTTP integrations: the CRM and the opt-out list.

# Use case: booking request completed -> POST to the CRM.
trigger "crm_booking_sync" {
  description = "Send every completed booking to the CRM"
  on          = ["booking.completed"]

  action "http" "crm" {
    url     = "https://crm.example.com/hooks/bookings"
    method  = "POST"
    headers = { "X-Api-Key" = env("CRM_API_KEY") }
    # No body: the CloudEvent is sent as JSON.
  }
}

# Use case: participant added to the stop list -> POST to our server.
trigger "stop_list_sync" {
  description = "Tell the marketing system when someone opts out"
  on          = ["participant.stop_listed"]
  when        = "participant.normalized_phone != '' || participant.email != ''"

  action "http" "opt_out" {
    url            = "https://marketing.example.com/api/opt-outs"
    timeout        = "10s"
    signing_secret = env("OPT_OUT_SIGNING_SECRET")
    body = jsonencode({
      phone  = participant.normalized_phone
      email  = participant.email
      name   = participant.name
      reason = "apptoto_stop_list"
    })
  }
}
