"""The Twilio adapter: Messaging (SMS, MMS, WhatsApp) and Voice webhooks, verified and translated."""
