"""The plugin's per-user state moves off users into its own table, referral_accounts:
each user's code, who referred them, when they joined the program, and the
deleted_at and deleted_mailbox_digest of a forgotten account.

Every user gets an account row carrying their values; users keeps id, created_at
and the site's own columns. Downgrading copies the values back, and a user created
since without an account row gets a fresh code (registered in referral_codes, so
links to it resolve).

On SQLite the users table is recreated (batch mode), which must run with foreign
keys off: see _sqlite_foreign_keys_off.

Revision ID: 0008_referral_accounts
Revises: 0007_rewards_user_created
Create Date: 2026-11-25 14:00:00.000000

"""
import secrets
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_referral_accounts'
down_revision = '0007_rewards_user_created'
branch_labels = None
depends_on = None

#: referral_site/referrals/attribution/codes.py at this revision (no 0/O, 1/I/L),
#: copied so the migration does not change when the app does.
CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789'
CODE_LENGTH = 8


def upgrade():
    with _sqlite_foreign_keys_off():
        op.create_table('referral_accounts',
        sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('referred_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('deleted_mailbox_digest', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['referred_by_id'], ['users.id'], name=op.f('fk_referral_accounts_referred_by_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_referral_accounts_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_referral_accounts')),
        sa.UniqueConstraint('code', name=op.f('uq_referral_accounts_code'))
        )
        with op.batch_alter_table('referral_accounts', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_referral_accounts_created_at'), ['created_at'], unique=False)
            batch_op.create_index(batch_op.f('ix_referral_accounts_referred_by_id'), ['referred_by_id'], unique=False)

        op.execute(
            'INSERT INTO referral_accounts (user_id, code, referred_by_id, created_at, '
            'deleted_at, deleted_mailbox_digest) '
            'SELECT id, referral_code, referred_by_id, created_at, deleted_at, '
            'deleted_mailbox_digest FROM users'
        )

        # Names as 0001 (code, referrer) and 0003/0004 (deletion) created them.
        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.drop_index(batch_op.f('ix_users_referred_by_id'))
            batch_op.drop_constraint(batch_op.f('fk_users_referred_by_id_users'), type_='foreignkey')
            batch_op.drop_constraint(batch_op.f('uq_users_referral_code'), type_='unique')
            batch_op.drop_column('deleted_mailbox_digest')
            batch_op.drop_column('deleted_at')
            batch_op.drop_column('referred_by_id')
            batch_op.drop_column('referral_code')


def downgrade():
    with _sqlite_foreign_keys_off():
        # Nullable first: a user created since may have no account row to copy from.
        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.add_column(sa.Column('referral_code', sa.String(length=32), nullable=True))
            batch_op.add_column(sa.Column('referred_by_id', sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column('deleted_mailbox_digest', sa.String(length=64), nullable=True))

        op.execute(
            'UPDATE users SET '
            'referral_code = (SELECT a.code FROM referral_accounts a WHERE a.user_id = users.id), '
            'referred_by_id = (SELECT a.referred_by_id FROM referral_accounts a WHERE a.user_id = users.id), '
            'deleted_at = (SELECT a.deleted_at FROM referral_accounts a WHERE a.user_id = users.id), '
            'deleted_mailbox_digest = (SELECT a.deleted_mailbox_digest FROM referral_accounts a '
            'WHERE a.user_id = users.id)'
        )
        _give_fresh_codes()

        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.alter_column('referral_code', existing_type=sa.String(length=32), nullable=False)
            batch_op.create_unique_constraint(batch_op.f('uq_users_referral_code'), ['referral_code'])
            batch_op.create_foreign_key(batch_op.f('fk_users_referred_by_id_users'), 'users', ['referred_by_id'], ['id'], ondelete='SET NULL')
            batch_op.create_index(batch_op.f('ix_users_referred_by_id'), ['referred_by_id'], unique=False)

        with op.batch_alter_table('referral_accounts', schema=None) as batch_op:
            batch_op.drop_index(batch_op.f('ix_referral_accounts_referred_by_id'))
            batch_op.drop_index(batch_op.f('ix_referral_accounts_created_at'))

        op.drop_table('referral_accounts')


def _give_fresh_codes() -> None:
    """Give each user without an account row a new code, as their primary alias."""
    bind = op.get_bind()
    missing = bind.scalars(
        sa.text('SELECT id FROM users WHERE referral_code IS NULL ORDER BY id')
    ).all()
    given: set[str] = set()
    for user_id in missing:
        code = _unused_code(bind, given)
        given.add(code)
        values = {'id': user_id, 'code': code}
        bind.execute(sa.text('UPDATE users SET referral_code = :code WHERE id = :id'), values)
        bind.execute(
            sa.text('UPDATE referral_codes SET is_primary = false WHERE user_id = :id'), values
        )
        bind.execute(
            sa.text(
                'INSERT INTO referral_codes (code, user_id, is_primary, created_at) '
                'VALUES (:code, :id, true, CURRENT_TIMESTAMP)'
            ),
            values,
        )


def _unused_code(bind, given: set[str]) -> str:
    """A random code no account, alias or code given in this run has."""
    # users.referral_code holds only the accounts' codes and `given` here, and has
    # no index yet: look in the tables whose unique constraints index the codes.
    taken = sa.text(
        'SELECT 1 FROM referral_accounts WHERE code = :code '
        'UNION ALL SELECT 1 FROM referral_codes WHERE code = :code'
    )
    while True:
        code = ''.join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in given and bind.execute(taken, {'code': code}).first() is None:
            return code


@contextmanager
def _sqlite_foreign_keys_off():
    """Run the block with SQLite's foreign key enforcement off, if it is on.

    Batch mode recreates users: it copies the rows to a new table, drops the old one
    and renames the new one. With foreign keys enforced (the site's engines turn
    them on), dropping users first deletes its rows, which fires every ON DELETE:
    referral_accounts, visits, referral_codes... would be emptied and references
    set to NULL, or the drop fails on the referrals pointing at users. SQLite
    ignores the pragma inside a transaction, so the transaction so far (earlier
    revisions of this run, each complete) is committed first, and this revision's
    changes are checked and committed before enforcement is turned back on. Alembic
    records the new version in the transaction opened after that: a crash in between
    leaves the schema at this revision and alembic_version at the one before.
    """
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite' or not bind.exec_driver_sql('PRAGMA foreign_keys').scalar():
        yield
        return
    # The sqlite3 connection itself: SQLAlchemy would open a transaction first.
    sqlite = bind.connection.driver_connection
    _restart_with_foreign_keys(sqlite, 'OFF')
    try:
        yield
        broken = sqlite.execute('PRAGMA foreign_key_check').fetchall()
        if broken:
            raise RuntimeError(f'rows left with dangling foreign keys: {broken[:10]}')
    except BaseException:
        if sqlite.in_transaction:
            sqlite.execute('ROLLBACK')
        _restart_with_foreign_keys(sqlite, 'ON')
        raise
    _restart_with_foreign_keys(sqlite, 'ON')


def _restart_with_foreign_keys(sqlite, setting: str) -> None:
    """Commit, set PRAGMA foreign_keys, and open the transaction Alembic goes on in."""
    if sqlite.in_transaction:
        sqlite.execute('COMMIT')
    sqlite.execute(f'PRAGMA foreign_keys = {setting}')
    sqlite.execute('BEGIN')
