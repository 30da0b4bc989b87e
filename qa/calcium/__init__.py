"""Calcium scoring: arrays in, numbers out."""
