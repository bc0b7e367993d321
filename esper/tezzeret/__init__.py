"""Tezzeret, the compiler: blueprints in, validated and characterized kernel artifacts out."""
