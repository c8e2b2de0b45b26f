"""Shared discount rules."""

from discount_calculator.calculator import MAX_DISCOUNT, MIN_DISCOUNT, random_discount

__all__ = ["MAX_DISCOUNT", "MIN_DISCOUNT", "random_discount"]
__version__ = "0.1.1"
