"""Column types shared by the models."""
from sqlalchemy import BigInteger, Integer, JSON
from sqlalchemy.dialects.postgresql import JSONB

# A 64-bit key on PostgreSQL; SQLite needs INTEGER to alias the rowid.
IdType = BigInteger().with_variant(Integer(), "sqlite")
JsonType = JSON().with_variant(JSONB(), "postgresql")
