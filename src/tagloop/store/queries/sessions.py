"""Web-page sessions: stored by the sha256 of their token, never the token itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from tagloop.store.tables import SessionRow


def add_session(
    session: Session,
    *,
    token_hash: str,
    role: str,
    project_id: str | None,
    key_digest: str,
    expires: datetime,
) -> None:
    session.add(
        SessionRow(
            token_hash=token_hash,
            role=role,
            project_id=project_id,
            key_digest=key_digest,
            expires=expires,
        )
    )


def find_session(session: Session, *, token_hash: str, now: datetime) -> SessionRow | None:
    row = session.get(SessionRow, token_hash)
    if row is None or row.expires <= now:
        return None
    return row


def delete_session(session: Session, *, token_hash: str) -> None:
    session.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash))


def delete_expired(session: Session, *, now: datetime) -> int:
    result = session.execute(delete(SessionRow).where(SessionRow.expires <= now))
    return int(getattr(result, "rowcount", 0) or 0)
