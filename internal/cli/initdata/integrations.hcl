# Your other systems, over HTTP. Secrets come from env(): set them where the
# server runs ('hookline validate' lists them).

# Use case: a booking is completed -> POST it to the CRM.
trigger "booking_crm_sync" {
  description = "Send every completed booking to the CRM"
  on          = ["booking.completed"]

  action "http" "crm" {
    url     = "https://crm.example.com/hooks/bookings"
    headers = { "X-Api-Key" = env("CRM_API_KEY") }
    # No body: the event is sent as JSON, as received.
  }
}

# Use case: a participant opts out -> a signed POST to the marketing system.
trigger "stop_list_sync" {
  description = "Tell the marketing system when someone opts out"
  on          = ["participant.stop_listed"]
  when        = "participant.normalized_phone != '' || participant.email != ''"

  action "http" "opt_out" {
    url            = "https://marketing.example.com/api/opt-outs"
    signing_secret = env("OPT_OUT_SIGNING_SECRET") # a whsec_... Standard Webhooks secret
    body = jsonencode({
      phone = participant.normalized_phone
      email = participant.email
    })
  }
}
