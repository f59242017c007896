"""Forms of the public pages (Flask-WTF, so every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length


class TopicsForm(FlaskForm):
    """The topic fields, as typed on the sign-up page and edited on the manage page."""

    keywords = TextAreaField(
        "Keywords and phrases",
        description="One per line or separated by commas, such as: graph neural networks, protein folding",
        validators=[Length(max=5000)],
    )
    categories = StringField(
        "arXiv categories",
        description="Separated by commas or spaces, such as: cs.CL, stat.ML, hep-th",
        validators=[Length(max=1000)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    authors = TextAreaField(
        "Authors",
        description="One name per line, such as: Yoshua Bengio",
        validators=[Length(max=5000)],
    )


class SignupForm(TopicsForm):
    email = EmailField(
        "Email address",
        validators=[DataRequired(message="Enter your email address."), Length(max=320)],
        render_kw={"autocomplete": "email"},
    )


class UnsubscribeForm(FlaskForm):
    """A form with no fields, for the confirmation button on the unsubscribe page."""
