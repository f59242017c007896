"""Forms of the public pages (Flask-WTF, so every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length


class SignupForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired(message="Enter your email address."), Length(max=320)])
    keywords = TextAreaField(
        "Keywords and phrases",
        description="One per line or separated by commas, such as: graph neural networks, protein folding",
        validators=[Length(max=5000)],
    )
    categories = StringField(
        "arXiv categories",
        description="Separated by commas or spaces, such as: cs.CL, stat.ML, hep-th",
        validators=[Length(max=1000)],
    )
    authors = TextAreaField(
        "Authors",
        description="One name per line, such as: Yoshua Bengio",
        validators=[Length(max=5000)],
    )


class UnsubscribeForm(FlaskForm):
    """A form with no fields, for the confirmation button on the unsubscribe page."""
