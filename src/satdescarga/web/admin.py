"""(built by the serve issue's helpers)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
