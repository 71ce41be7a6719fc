"""Organizations and integrations in SQL (the ``[control]`` database)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from scimserver.protocol.validate import now
from scimserver.tenancy import Integration, Organization

from .engine import WRITE, create_tables, make_engine
from .raw import RawRead
from .tables import integrations, organizations

ORG, INT = organizations.c, integrations.c
BY_TOKEN_HASH = (
    select(
        INT.id,
        INT.kind,
        INT.created,
        INT.token_hash,
        ORG.id.label("org_id"),
        ORG.slug,
        ORG.name,
        ORG.enterprise,
        ORG.provisioning,
    )
    .select_from(integrations.join(organizations, ORG.id == INT.org_id))
    .where(INT.token_hash == bindparam("token_hash"))
)


def _org(row: Any) -> Organization:
    return Organization(row.id, row.slug, row.name, bool(row.enterprise), bool(row.provisioning))


class SqlControlStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        create_tables(self.engine)
        self._by_token_hash = RawRead(self.engine, BY_TOKEN_HASH)

    def close(self) -> None:
        self.engine.dispose()

    def create_org(self, slug: str, name: str, enterprise: bool) -> Organization:
        row = {
            "id": uuid.uuid4().hex,
            "slug": slug,
            "name": name,
            "enterprise": enterprise,
            "provisioning": False,
            "created": now(),
        }
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(insert(organizations).values(**row))
        return Organization(row["id"], slug, name, enterprise, False)

    def get_org(self, slug: str) -> Organization | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(organizations).where(ORG.slug == slug)).first()
        return _org(row) if row else None

    def list_orgs(self) -> list[Organization]:
        with self.engine.connect() as conn:
            return [_org(r) for r in conn.execute(select(organizations).order_by(ORG.slug))]

    def set_provisioning(self, slug: str, enabled: bool) -> Organization:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(update(organizations).where(ORG.slug == slug).values(provisioning=enabled))
        org = self.get_org(slug)
        assert org is not None
        return org

    def save_integration(self, org: Organization, kind: str, token_hash: str) -> Integration:
        stamp = now()
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            row = conn.execute(
                select(INT.id, INT.created).where(INT.org_id == org.id, INT.kind == kind)
            ).first()
            if row is None:
                ident, created = uuid.uuid4().hex, stamp
                conn.execute(
                    insert(integrations).values(
                        id=ident,
                        org_id=org.id,
                        kind=kind,
                        token_hash=token_hash,
                        created=stamp,
                        rotated=stamp,
                    )
                )
            else:
                ident, created = row.id, row.created
                conn.execute(
                    update(integrations)
                    .where(INT.id == ident)
                    .values(token_hash=token_hash, rotated=stamp)
                )
        return Integration(ident, org, kind, created, token_hash)

    def list_integrations(self, org: Organization) -> list[Integration]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(integrations).where(INT.org_id == org.id).order_by(INT.kind)
            ).all()
        return [Integration(r.id, org, r.kind, r.created, r.token_hash) for r in rows]

    def integration_by_token_hash(self, token_hash: str) -> Integration | None:
        # One indexed read: the token hash is unique, joined to its organization.
        row = self._by_token_hash.run(None, {"token_hash": token_hash})
        if row is None:
            return None
        id, kind, created, stored_hash, org_id, slug, name, enterprise, provisioning = row
        org = Organization(org_id, slug, name, bool(enterprise), bool(provisioning))
        return Integration(id, org, kind, created, stored_hash)
