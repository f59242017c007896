"""Public pages: sign up, confirm the address, see one's topics, unsubscribe."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFProtect

from digest import services
from digest.errors import DeliveryError, SubscriberError, TopicError
from digest.links import InvalidLinkError
from digest.models import Subscriber
from digest.subscriptions import confirm_subscription, request_subscription, send_signup_email, unsubscribe
from digest.topics import TopicKind, parse_topics
from digest.web.forms import SignupForm, UnsubscribeForm

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__)
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.route("/", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    if not form.validate_on_submit():
        return render_template("web/signup.html", form=form, error=None), 400 if request.method == "POST" else 200

    app_services = services()
    try:
        topics = parse_topics({
            TopicKind.KEYWORD: form.keywords.data or "",
            TopicKind.CATEGORY: (form.categories.data or "").replace(" ", ","),
            TopicKind.AUTHOR: form.authors.data or "",
        })
        with app_services.db.session() as session:
            subscriber, outcome = request_subscription(session, form.email.data or "", topics)
            send_signup_email(
                subscriber, outcome, links=app_services.links, renderer=app_services.renderer,
                backend=app_services.mail, sender=app_services.settings.mail_from,
            )
    except (TopicError, SubscriberError) as exc:
        return render_template("web/signup.html", form=form, error=str(exc)), 400
    except DeliveryError as exc:
        log.error("Sign-up email could not be sent: %s", exc)
        return render_template(
            "web/signup.html", form=form,
            error="The confirmation email could not be sent. Nothing was saved: please try again in a few minutes.",
        ), 503
    return redirect(url_for("web.check_inbox"))


@bp.get("/check-your-inbox")
def check_inbox():
    return render_template("web/check_inbox.html")


@bp.get("/confirm/<token>")
def confirm(token: str):
    app_services = services()
    subscriber_id = _subscriber_id("confirm", token)
    try:
        with app_services.db.session() as session:
            subscriber = confirm_subscription(session, subscriber_id)
            topics = [topic.spec for topic in subscriber.topics]
    except SubscriberError as exc:
        return render_template("web/message.html", title="Subscription not confirmed", message=str(exc)), 410
    return render_template(
        "web/confirmed.html", topics=topics,
        manage_url=url_for("web.manage", token=app_services.links.token("manage", subscriber_id)),
    )


@bp.get("/manage/<token>")
def manage(token: str):
    app_services = services()
    subscriber_id = _subscriber_id("manage", token)
    with app_services.db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            abort(404)
        topics = [topic.spec for topic in subscriber.topics]
        status = subscriber.status
    return render_template(
        "web/manage.html", topics=topics, status=status.value,
        unsubscribe_url=url_for("web.unsubscribe_page", token=app_services.links.token("unsubscribe", subscriber_id)),
    )


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    _subscriber_id("unsubscribe", token)
    # Showing a button instead of unsubscribing at once keeps link scanners that
    # open every URL in an email from ending the subscription.
    return render_template("web/unsubscribe.html", form=UnsubscribeForm())


@bp.post("/unsubscribe/<token>")
@csrf.exempt
def unsubscribe_submit(token: str):
    # The signed token proves the request comes from the subscriber's email, so
    # no CSRF token is needed; RFC 8058 one-click POSTs from mail clients carry none.
    subscriber_id = _subscriber_id("unsubscribe", token)
    try:
        with services().db.session() as session:
            unsubscribe(session, subscriber_id)
    except SubscriberError as exc:
        return render_template("web/message.html", title="Already gone", message=str(exc)), 404
    return render_template("web/unsubscribed.html")


def _subscriber_id(purpose: str, token: str) -> int:
    return services().links.subscriber_id(purpose, token)


@bp.app_errorhandler(InvalidLinkError)
def invalid_link(exc: InvalidLinkError):
    return render_template("web/message.html", title="Invalid link", message=str(exc)), 400
