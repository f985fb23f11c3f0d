"""Solutions to the tutorials' exercises, one module per tutorial (s01.py, ...). Try first!"""
