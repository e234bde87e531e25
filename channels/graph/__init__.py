"""Microsoft Graph adapter: msgraph-sdk, subscriptions with lifecycle events, calendarView delta."""
