"""Conversions, reward rules and the append-only reward history.

Rewards gain the rule and source that granted them (unique per recipient, so a rule
fires at most once), hold and earning times, the review and reversed statuses, and
negative adjustments that take back paid rewards.

Revision ID: 0002_rewards
Revises: 0001_initial_schema
Create Date: 2026-11-24 17:17:24.525423

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_rewards'
down_revision = '0001_initial_schema'
branch_labels = None
depends_on = None

OLD_STATUSES = ('pending', 'approved', 'rejected', 'paid')
NEW_STATUSES = ('pending', 'review', 'approved', 'rejected', 'paid', 'reversed')


def _status_check(values):
    return "status IN (%s)" % ", ".join(f"'{value}'" for value in values)


def upgrade():
    op.create_table('conversions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_minor >= 0', name=op.f('ck_conversions_amount_not_negative')),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_conversions_currency_code')),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'], name=op.f('fk_conversions_referral_id_referrals')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_conversions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversions')),
    sa.UniqueConstraint('external_id', name=op.f('uq_conversions_external_id'))
    )
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversions_referral_id'), ['referral_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversions_user_id'), ['user_id'], unique=False)

    op.create_table('reward_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reward_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.Enum(*NEW_STATUSES, name='from_status', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('to_status', sa.Enum(*NEW_STATUSES, name='to_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_reward_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_reward_events_reward_id_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_events'))
    )
    with op.batch_alter_table('reward_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reward_events_reward_id'), ['reward_id'], unique=False)

    # New columns start nullable so rows from before can be filled in, then tightened.
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('source_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('conversion_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('adjusts_reward_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('earned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('hold_until', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE rewards SET rule = 'legacy', source_key = 'legacy:' || id,"
        " earned_at = created_at, hold_until = created_at"
    )
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.alter_column('rule', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('source_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('earned_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.alter_column('hold_until', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_constraint(op.f('ck_rewards_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_rewards_status'), _status_check(NEW_STATUSES))
        batch_op.create_check_constraint(
            op.f('ck_rewards_amount_sign'),
            "(adjusts_reward_id IS NULL AND amount_minor > 0)"
            " OR (adjusts_reward_id IS NOT NULL AND amount_minor < 0)",
        )
        batch_op.create_index(batch_op.f('ix_rewards_conversion_id'), ['conversion_id'], unique=False)
        batch_op.create_index('ix_rewards_status_hold', ['status', 'hold_until'], unique=False)
        batch_op.create_unique_constraint(op.f('uq_rewards_grant'), ['rule', 'source_key', 'user_id'])
        batch_op.create_foreign_key(batch_op.f('fk_rewards_conversion_id_conversions'), 'conversions', ['conversion_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_rewards_adjusts_reward_id_rewards'), 'rewards', ['adjusts_reward_id'], ['id'])


def downgrade():
    # Statuses the old schema does not know fall back to their nearest old meaning.
    op.execute("UPDATE rewards SET status = 'pending' WHERE status = 'review'")
    op.execute("UPDATE rewards SET status = 'rejected' WHERE status = 'reversed'")
    op.execute("DELETE FROM rewards WHERE adjusts_reward_id IS NOT NULL")
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_rewards_adjusts_reward_id_rewards'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_rewards_conversion_id_conversions'), type_='foreignkey')
        batch_op.drop_constraint(op.f('uq_rewards_grant'), type_='unique')
        batch_op.drop_index('ix_rewards_status_hold')
        batch_op.drop_index(batch_op.f('ix_rewards_conversion_id'))
        batch_op.drop_constraint(op.f('ck_rewards_amount_sign'), type_='check')
        batch_op.drop_constraint(op.f('ck_rewards_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_rewards_status'), _status_check(OLD_STATUSES))
        batch_op.drop_column('hold_until')
        batch_op.drop_column('earned_at')
        batch_op.drop_column('adjusts_reward_id')
        batch_op.drop_column('conversion_id')
        batch_op.drop_column('source_key')
        batch_op.drop_column('rule')

    with op.batch_alter_table('reward_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reward_events_reward_id'))

    op.drop_table('reward_events')
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversions_user_id'))
        batch_op.drop_index(batch_op.f('ix_conversions_referral_id'))

    op.drop_table('conversions')
