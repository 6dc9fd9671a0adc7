"""samlabel.gui"""
