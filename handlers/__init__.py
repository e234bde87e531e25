"""Receivers and consumers: webhook views (thin, over sans-IO verification) and bus consumers."""
