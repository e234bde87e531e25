"""Tests of the provider emulators, driven through the providers' real client libraries."""
