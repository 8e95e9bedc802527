"""dicom transfers: DICOM sends and imports (issue 12)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 07:05:10.923929
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dicom_transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("destination", sa.String(length=100), nullable=False),
        sa.Column("dose_job_id", sa.String(length=36), nullable=True),
        sa.Column("study_id", sa.String(length=36), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("stage", sa.String(length=200), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dose_job_id"], ["dose_jobs.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_dicom_transfers_dose_job_id"), "dicom_transfers", ["dose_job_id"], unique=False
    )
    op.create_index(op.f("ix_dicom_transfers_status"), "dicom_transfers", ["status"], unique=False)
    op.create_index(
        op.f("ix_dicom_transfers_study_id"), "dicom_transfers", ["study_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_dicom_transfers_study_id"), table_name="dicom_transfers")
    op.drop_index(op.f("ix_dicom_transfers_status"), table_name="dicom_transfers")
    op.drop_index(op.f("ix_dicom_transfers_dose_job_id"), table_name="dicom_transfers")
    op.drop_table("dicom_transfers")
