"""Trustworthy attribution: code aliases, fraud signals and their history, sightings,
click rollups, signup evidence on referrals and deleted accounts.

Every existing user's current code becomes their primary row in referral_codes, so
links shared before this revision keep working.

Revision ID: 0003_fraud
Revises: 0002_rewards
Create Date: 2026-11-24 17:11:45.885199

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_fraud'
down_revision = '0002_rewards'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('referral_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_referral_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_referral_codes_code'))
    )
    with op.batch_alter_table('referral_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_codes_user_id'), ['user_id'], unique=False)

    op.create_table('user_sightings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('device', 'ip', name='kind', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sightings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sightings')),
    sa.UniqueConstraint('user_id', 'kind', 'value', name=op.f('uq_user_sightings_user_id'))
    )
    with op.batch_alter_table('user_sightings', schema=None) as batch_op:
        batch_op.create_index('ix_user_sightings_kind_value', ['kind', 'value'], unique=False)

    op.create_table('visit_rollups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referrer_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['referrer_id'], ['users.id'], name=op.f('fk_visit_rollups_referrer_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_rollups')),
    sa.UniqueConstraint('referrer_id', 'day', name=op.f('uq_visit_rollups_referrer_id'))
    )
    op.create_table('referral_flag_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.Enum('flagged', 'cleared', 'confirmed', name='action', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_referral_flag_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'], name=op.f('fk_referral_flag_events_referral_id_referrals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_flag_events'))
    )
    with op.batch_alter_table('referral_flag_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_flag_events_referral_id'), ['referral_id'], unique=False)

    op.create_table('referral_signals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Enum('own_email', 'same_device', 'same_ip', 'disposable_email', 'ip_velocity', 'referrer_velocity', 'refunded_soon', name='signal', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('stage', sa.Enum('signup', 'conversion', 'manual', name='stage', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('detail', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'], name=op.f('fk_referral_signals_referral_id_referrals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_signals')),
    sa.UniqueConstraint('referral_id', 'name', name=op.f('uq_referral_signals_referral_id'))
    )
    with op.batch_alter_table('referral_signals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_signals_referral_id'), ['referral_id'], unique=False)

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signup_ip_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('signup_visitor_id', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_referrals_signup_ip_created', ['signup_ip_hash', 'created_at'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))

    # Existing codes become primary aliases; codes are already upper-case.
    op.execute(
        "INSERT INTO referral_codes (code, user_id, is_primary, created_at) "
        "SELECT referral_code, id, true, created_at FROM users"
    )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_signup_ip_created')
        batch_op.drop_column('signup_visitor_id')
        batch_op.drop_column('signup_ip_hash')

    with op.batch_alter_table('referral_signals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_signals_referral_id'))

    op.drop_table('referral_signals')
    with op.batch_alter_table('referral_flag_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_flag_events_referral_id'))

    op.drop_table('referral_flag_events')
    op.drop_table('visit_rollups')
    with op.batch_alter_table('user_sightings', schema=None) as batch_op:
        batch_op.drop_index('ix_user_sightings_kind_value')

    op.drop_table('user_sightings')
    with op.batch_alter_table('referral_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_codes_user_id'))

    op.drop_table('referral_codes')
