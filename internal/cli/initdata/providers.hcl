# How sms and email actions send. Secrets come from the server's environment.

twilio {
  account_sid = env("TWILIO_ACCOUNT_SID")
  auth_token  = env("TWILIO_AUTH_TOKEN")
  from        = "+15550199"
}

smtp {
  host     = "smtp.example.com"
  username = env("SMTP_USERNAME")
  password = env("SMTP_PASSWORD")
  from     = "Front Desk <frontdesk@example.com>"
}
