"""samlabel.annotations"""
