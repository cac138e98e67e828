"""Supervision inspections: the 双随机、一公开 draw (`draw`) and its inputs and publication (`draw_io`)."""
