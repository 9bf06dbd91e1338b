"""ANSI/NIST-ITL interchange: transactions in and out, and the records they carry."""
