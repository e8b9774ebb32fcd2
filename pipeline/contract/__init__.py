"""The input contract (CONTRACT.md): its columns, how values are parsed and the rules rows must follow."""
