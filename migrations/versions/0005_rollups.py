"""Daily counts per referrer kept on write (clicks, signups, conversions), and
indexes for the reports' date ranges.

visit_rollups used to hold only the clicks of purged visits; from here on it holds
every click, referred signup and first conversion per referrer and UTC day (the
app adds to it whenever it writes visits and referrals), so the existing visits
and referrals are counted into it. Downgrading takes them out again.

Revision ID: 0005_rollups
Revises: 0004_accounts
Create Date: 2026-11-24 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_rollups'
down_revision = '0004_accounts'
branch_labels = None
depends_on = None


def _utc_day(dialect: str, column: str) -> str:
    """SQL for the UTC day of a timestamp column (SQLite stores UTC text)."""
    if dialect == 'postgresql':
        return f"CAST(timezone('UTC', {column}) AS DATE)"
    return f'date({column})'


def _count_into(count: str, table: str, column: str, where: str = 'true') -> None:
    """Add per-referrer, per-day row counts of a table to one rollup count."""
    day = _utc_day(op.get_bind().dialect.name, f't.{column}')
    # "WHERE ..." also lets SQLite parse an upsert fed by a SELECT.
    op.execute(
        f'INSERT INTO visit_rollups (referrer_id, day, {count}) '
        f'SELECT t.referrer_id, {day}, count(*) FROM {table} t WHERE {where} '
        f'GROUP BY t.referrer_id, {day} '
        'ON CONFLICT (referrer_id, day) '
        f'DO UPDATE SET {count} = visit_rollups.{count} + excluded.{count}'
    )


def upgrade():
    with op.batch_alter_table('visit_rollups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signups', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('conversions', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index('ix_visit_rollups_day', ['day'], unique=False)
    _count_into('clicks', 'visits', 'created_at')
    _count_into('signups', 'referrals', 'created_at')
    _count_into(
        'conversions', 'referrals', 'converted_at',
        "t.status = 'converted' AND t.converted_at IS NOT NULL",
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_referrals_converted_at', ['converted_at'], unique=False)
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.create_index('ix_rewards_created_at', ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.drop_index('ix_rewards_created_at')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_converted_at')
        batch_op.drop_index('ix_referrals_created_at')
    day = _utc_day(op.get_bind().dialect.name, 'v.created_at')
    # Back to counting only purged visits: take the stored ones out again.
    op.execute(
        'UPDATE visit_rollups SET clicks = clicks - ('
        'SELECT count(*) FROM visits v '
        'WHERE v.referrer_id = visit_rollups.referrer_id '
        f'AND {day} = visit_rollups.day)'
    )
    op.execute('DELETE FROM visit_rollups WHERE clicks <= 0')
    with op.batch_alter_table('visit_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_visit_rollups_day')
        batch_op.drop_column('conversions')
        batch_op.drop_column('signups')
