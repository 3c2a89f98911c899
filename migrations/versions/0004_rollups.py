"""Click counts kept on write, and indexes for the reports' date ranges.

visit_rollups used to hold only the clicks of purged visits; from here on it holds
every click (the app adds to it whenever it writes visits), so the existing visits
are added to it. Downgrading takes them out again.

Revision ID: 0004_rollups
Revises: 0003_fraud
Create Date: 2026-11-24 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_rollups'
down_revision = '0003_fraud'
branch_labels = None
depends_on = None


def _visit_day(dialect: str) -> str:
    """SQL for the UTC day of visits.created_at (SQLite stores UTC text)."""
    if dialect == 'postgresql':
        return "CAST(timezone('UTC', v.created_at) AS DATE)"
    return 'date(v.created_at)'


def upgrade():
    day = _visit_day(op.get_bind().dialect.name)
    # "WHERE true" lets SQLite parse an upsert fed by a SELECT.
    op.execute(
        'INSERT INTO visit_rollups (referrer_id, day, clicks) '
        f'SELECT v.referrer_id, {day}, count(*) FROM visits v WHERE true '
        f'GROUP BY v.referrer_id, {day} '
        'ON CONFLICT (referrer_id, day) '
        'DO UPDATE SET clicks = visit_rollups.clicks + excluded.clicks'
    )
    with op.batch_alter_table('visit_rollups', schema=None) as batch_op:
        batch_op.create_index('ix_visit_rollups_day', ['day'], unique=False)
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
    with op.batch_alter_table('visit_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_visit_rollups_day')
    day = _visit_day(op.get_bind().dialect.name)
    op.execute(
        'UPDATE visit_rollups SET clicks = clicks - ('
        'SELECT count(*) FROM visits v '
        'WHERE v.referrer_id = visit_rollups.referrer_id '
        f'AND {day} = visit_rollups.day)'
    )
    op.execute('DELETE FROM visit_rollups WHERE clicks <= 0')
