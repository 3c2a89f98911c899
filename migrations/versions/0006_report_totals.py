"""Totals the admin report reads instead of every referrer's daily counts: the
program's counts per UTC day (new users, clicks, signups, conversions; rewards by
currency and status), each referrer's all-time counts and how many referrers are
active, each user's rewards by currency and status, kept on write from here on;
and the tables of the leaderboard snapshots (ranks and rewards) that
`flask referrals refresh-leaderboards` writes for the range presets.

The kept totals are filled from the existing rows (visit_rollups, users, rewards);
the snapshots start empty, and the report counts a preset's leaderboard from the
daily counts until the job has run. Downgrading drops the tables.

Revision ID: 0006_report_totals
Revises: 0005_rollups
Create Date: 2026-11-24 22:18:02.569275

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_report_totals'
down_revision = '0005_rollups'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('active_referrers',
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('referrers', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('slot', name=op.f('pk_active_referrers'))
    )
    op.create_table('daily_reward_totals',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.Enum('pending', 'review', 'approved', 'rejected', 'paid', 'reversed', name='status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('rewards', sa.Integer(), server_default='0', nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('day', 'currency', 'status', 'slot', name=op.f('pk_daily_reward_totals'))
    )
    op.create_table('daily_totals',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('users', sa.Integer(), server_default='0', nullable=False),
    sa.Column('clicks', sa.Integer(), server_default='0', nullable=False),
    sa.Column('signups', sa.Integer(), server_default='0', nullable=False),
    sa.Column('conversions', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('day', 'slot', name=op.f('pk_daily_totals'))
    )
    op.create_table('ranking_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('range_key', sa.String(length=8), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('referrers', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ranking_snapshots'))
    )
    with op.batch_alter_table('ranking_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_ranking_snapshots_range', ['range_key', 'id'], unique=False)

    op.create_table('ranked_referrers',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('referrer_id', sa.Integer(), nullable=False),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.Column('signups', sa.Integer(), nullable=False),
    sa.Column('conversions', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['referrer_id'], ['users.id'], name=op.f('fk_ranked_referrers_referrer_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['snapshot_id'], ['ranking_snapshots.id'], name=op.f('fk_ranked_referrers_snapshot_id_ranking_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'rank', name=op.f('pk_ranked_referrers'))
    )
    with op.batch_alter_table('ranked_referrers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ranked_referrers_referrer_id'), ['referrer_id'], unique=False)

    op.create_table('referrer_totals',
    sa.Column('referrer_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('clicks', sa.Integer(), server_default='0', nullable=False),
    sa.Column('signups', sa.Integer(), server_default='0', nullable=False),
    sa.Column('conversions', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['referrer_id'], ['users.id'], name=op.f('fk_referrer_totals_referrer_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('referrer_id', name=op.f('pk_referrer_totals'))
    )
    with op.batch_alter_table('referrer_totals', schema=None) as batch_op:
        batch_op.create_index('ix_referrer_totals_rank', [sa.literal_column('signups DESC'), sa.literal_column('conversions DESC'), sa.literal_column('clicks DESC'), 'referrer_id'], unique=False)
    op.create_table('user_reward_totals',
    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.Enum('pending', 'review', 'approved', 'rejected', 'paid', 'reversed', name='status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('rewards', sa.Integer(), server_default='0', nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_reward_totals_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'currency', 'status', name=op.f('pk_user_reward_totals'))
    )
    op.create_table('ranked_rewards',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('referrer_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('rewards', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['referrer_id'], ['users.id'], name=op.f('fk_ranked_rewards_referrer_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['snapshot_id'], ['ranking_snapshots.id'], name=op.f('fk_ranked_rewards_snapshot_id_ranking_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'referrer_id', 'currency', name=op.f('pk_ranked_rewards'))
    )
    with op.batch_alter_table('ranked_rewards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ranked_rewards_referrer_id'), ['referrer_id'], unique=False)

    _fill_totals()


def _utc_day(column: str) -> str:
    """SQL for the UTC day of a timestamp column (SQLite stores UTC text)."""
    if op.get_bind().dialect.name == 'postgresql':
        return f"CAST(timezone('UTC', {column}) AS DATE)"
    return f'date({column})'


def _fill_totals() -> None:
    """Count the existing rows in; every total goes to slot 0."""
    op.execute(
        'INSERT INTO daily_totals (day, slot, clicks, signups, conversions) '
        'SELECT day, 0, sum(clicks), sum(signups), sum(conversions) '
        'FROM visit_rollups GROUP BY day'
    )
    created = _utc_day('created_at')
    # "WHERE true" lets SQLite parse an upsert fed by a SELECT.
    op.execute(
        'INSERT INTO daily_totals (day, slot, users) '
        f'SELECT {created}, 0, count(*) FROM users WHERE true GROUP BY {created} '
        'ON CONFLICT (day, slot) DO UPDATE SET users = excluded.users'
    )
    op.execute(
        'INSERT INTO referrer_totals (referrer_id, clicks, signups, conversions) '
        'SELECT referrer_id, sum(clicks), sum(signups), sum(conversions) '
        'FROM visit_rollups GROUP BY referrer_id'
    )
    op.execute(
        'INSERT INTO active_referrers (slot, referrers) '
        'SELECT 0, count(*) FROM referrer_totals WHERE clicks > 0 OR signups > 0'
    )
    op.execute(
        'INSERT INTO user_reward_totals '
        '(user_id, currency, status, rewards, amount_minor) '
        'SELECT user_id, currency, status, count(*), sum(amount_minor) '
        'FROM rewards GROUP BY user_id, currency, status'
    )
    op.execute(
        'INSERT INTO daily_reward_totals '
        '(day, currency, status, slot, rewards, amount_minor) '
        f'SELECT {created}, currency, status, 0, count(*), sum(amount_minor) '
        f'FROM rewards GROUP BY {created}, currency, status'
    )


def downgrade():
    with op.batch_alter_table('ranked_rewards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ranked_rewards_referrer_id'))

    op.drop_table('ranked_rewards')
    op.drop_table('user_reward_totals')
    with op.batch_alter_table('referrer_totals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrer_totals_rank')

    op.drop_table('referrer_totals')
    with op.batch_alter_table('ranked_referrers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ranked_referrers_referrer_id'))

    op.drop_table('ranked_referrers')
    with op.batch_alter_table('ranking_snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_ranking_snapshots_range')

    op.drop_table('ranking_snapshots')
    op.drop_table('daily_totals')
    op.drop_table('daily_reward_totals')
    op.drop_table('active_referrers')
