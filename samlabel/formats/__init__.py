"""samlabel.formats"""
