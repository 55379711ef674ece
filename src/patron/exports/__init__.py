"""Exports: customers, orders, scores, tasks and tickets to CSV or XLSX."""
