"""Public pages: sign up, confirm the address, see and change one's topics, unsubscribe."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from itsdangerous import SignatureExpired
from werkzeug.exceptions import NotFound

from digest import services
from digest.errors import DeliveryError, SubscriberError, TopicError
from digest.links import InvalidLinkError
from digest.models import Subscriber, SubscriberStatus
from digest.subscriptions import (
    confirm_subscription,
    normalize_email,
    request_subscription,
    send_signup_email,
    set_topics,
    unsubscribe,
)
from digest.topics import TopicKind, TopicSpec, parse_topics
from digest.web.forms import SignupForm, TopicsForm, UnsubscribeForm

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__)
csrf = CSRFProtect()

#: The fields of TopicsForm and the kind of topic each one holds.
TOPIC_FIELDS = (
    ("keywords", TopicKind.KEYWORD),
    ("categories", TopicKind.CATEGORY),
    ("authors", TopicKind.AUTHOR),
)

NO_TOPICS_MESSAGE = "No topics were given: add at least one keyword, arXiv category or author."
MAIL_FAILED_MESSAGE = (
    "The confirmation email could not be sent, so nothing was saved. Please try again in a few minutes."
)
SIGNUP_EXPIRED_MESSAGE = (
    "The form expired or was sent from another site, so nothing was saved. "
    "Check your entries and press Subscribe again. If this happens again, allow cookies for this site."
)


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.register_blueprint(bp)


@bp.after_app_request
def add_security_headers(response):
    # Pages carry signed tokens in their URLs: "same-origin" keeps them out of the
    # Referer header sent to other sites, yet still lets Flask-WTF's strict
    # HTTPS check see a Referer on form posts. frame-ancestors stops other sites
    # from framing the Unsubscribe button.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    return response


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.route("/", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    if request.method == "GET":
        return _render_signup(form)

    # Run every check before responding, so one page lists all the problems.
    topics, error = _read_topics(form)
    if not form.email.errors:
        try:
            normalize_email(form.email.data or "")
        except SubscriberError as exc:
            form.email.errors.append(str(exc))
    if _has_field_errors(form) or error:
        return _render_signup(form, error=error), 400

    app_services = services()
    try:
        with app_services.db.session() as session:
            subscriber, outcome = request_subscription(session, form.email.data or "", topics)
            # Sent inside the transaction: when sending fails, the sign-up is rolled back.
            send_signup_email(
                subscriber, outcome, links=app_services.links, renderer=app_services.renderer,
                backend=app_services.mail, sender=app_services.settings.mail_from,
            )
    except SubscriberError as exc:
        return _render_signup(form, error=str(exc)), 400
    except DeliveryError as exc:
        log.error("Sign-up email could not be sent, so the sign-up was rolled back: %s", exc)
        return _render_signup(form, error=MAIL_FAILED_MESSAGE), 503
    return redirect(url_for("web.check_inbox"))


def _read_topics(form: TopicsForm) -> tuple[list[TopicSpec], str | None]:
    """Validate ``form`` and parse its topic fields.

    Returns the topics, or an empty list and a page-level error. Errors that
    belong to one field are added to that field, so they show next to it.
    """
    form.validate()
    for name, kind in TOPIC_FIELDS:
        try:
            parse_topics({kind: _field_text(form, name)})
        except TopicError as exc:
            form[name].errors.append(str(exc))
    if any(form[name].errors for name, _ in TOPIC_FIELDS):
        return [], None

    try:
        # Parsed as a whole to drop duplicates and to apply the limit on the number of topics.
        topics = parse_topics({kind: _field_text(form, name) for name, kind in TOPIC_FIELDS})
    except TopicError as exc:
        return [], str(exc)
    if not topics:
        return [], NO_TOPICS_MESSAGE
    return topics, None


def _field_text(form: TopicsForm, name: str) -> str:
    text = form[name].data or ""
    # The categories field also accepts spaces between categories.
    return text.replace(" ", ",") if name == "categories" else text


def _has_field_errors(form: TopicsForm) -> bool:
    # Form.errors caches its first result, so the fields are read directly.
    return any(field.errors for field in form)


def _render_signup(form: SignupForm, error: str | None = None) -> str:
    return render_template("web/signup.html", form=form, error=error)


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
            email = subscriber.email
            topics = [topic.spec for topic in subscriber.topics]
    except SubscriberError as exc:
        log.info("Confirmation of subscriber %d rejected: %s", subscriber_id, exc)
        return _message("Subscription not confirmed", str(exc), 410)
    return render_template(
        "web/confirmed.html", email=email, topics=topics,
        manage_url=url_for("web.manage", token=app_services.links.token("manage", subscriber_id)),
    )


@bp.route("/manage/<token>", methods=["GET", "POST"])
def manage(token: str):
    app_services = services()
    subscriber_id = _subscriber_id("manage", token)
    form = TopicsForm()
    error = None
    with app_services.db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return _subscriber_not_found(subscriber_id)
        status_code = 200
        if request.method == "GET":
            form = TopicsForm(data=_topic_fields_data(subscriber))
        elif subscriber.status is SubscriberStatus.UNSUBSCRIBED:
            # The page then shows that the subscription ended, with a link to sign up again.
            status_code = 409
        else:
            new_topics, error = _read_topics(form)
            if new_topics:
                set_topics(subscriber, new_topics)
                log.info("Subscriber %d saved %d topics", subscriber_id, len(new_topics))
                return redirect(url_for("web.manage", token=token, saved=1))
            status_code = 400
        email = subscriber.email
        topics = [topic.spec for topic in subscriber.topics]
        status = subscriber.status
    page = render_template(
        "web/manage.html", form=form, error=error, email=email, topics=topics, status=status.value,
        saved=request.args.get("saved") == "1",
        unsubscribe_url=url_for("web.unsubscribe_page", token=app_services.links.token("unsubscribe", subscriber_id)),
    )
    return page, status_code


def _topic_fields_data(subscriber: Subscriber) -> dict[str, str]:
    """Write a subscriber's topics into the text of the topic fields, with the separators each field accepts.

    NOTE: a keyword added from the command line with a comma or semicolon in it
    is split in two if the subscriber saves this form unchanged.
    """
    separators = {"keywords": "\n", "categories": " ", "authors": "\n"}
    return {
        name: separators[name].join(topic.value for topic in subscriber.topics if topic.kind is kind)
        for name, kind in TOPIC_FIELDS
    }


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    subscriber_id = _subscriber_id("unsubscribe", token)
    with services().db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return _subscriber_not_found(subscriber_id)
        email = subscriber.email
        already_unsubscribed = subscriber.status is SubscriberStatus.UNSUBSCRIBED
    # Showing a button instead of unsubscribing at once keeps link scanners that
    # open every URL in an email from ending the subscription.
    return render_template(
        "web/unsubscribe.html", form=UnsubscribeForm(), email=email, already_unsubscribed=already_unsubscribed,
    )


@bp.post("/unsubscribe/<token>")
@csrf.exempt
def unsubscribe_submit(token: str):
    # The signed token proves the request comes from the subscriber's email, so
    # no CSRF token is needed; RFC 8058 one-click POSTs from mail clients carry none.
    subscriber_id = _subscriber_id("unsubscribe", token)
    try:
        with services().db.session() as session:
            email = unsubscribe(session, subscriber_id).email
    except SubscriberError:
        return _subscriber_not_found(subscriber_id)
    return render_template("web/unsubscribed.html", email=email)


def _subscriber_id(purpose: str, token: str) -> int:
    return services().links.subscriber_id(purpose, token)


def _message(title: str, message: str, status: int):
    return render_template("web/message.html", title=title, message=message), status


def _subscriber_not_found(subscriber_id: int):
    log.info("%s: subscriber %d not found", request.endpoint, subscriber_id)
    return _message(
        "Subscription not found", "This subscription no longer exists: sign up again to get a new one.", 404,
    )


@bp.app_errorhandler(InvalidLinkError)
def invalid_link(exc: InvalidLinkError):
    title = "Link expired" if isinstance(exc.__cause__, SignatureExpired) else "Invalid link"
    log.info("%s rejected: %s", request.endpoint, title)
    return _message(title, str(exc), 400)


@bp.app_errorhandler(CSRFError)
def csrf_failed(exc: CSRFError):
    # The endpoint is logged, not the path, because manage paths carry a token that grants access.
    log.warning("Form post to %s rejected: %s", request.endpoint, exc.description)
    if request.endpoint == "web.signup":
        # The page is shown again with the typed entries and a fresh token.
        return _render_signup(SignupForm(), error=SIGNUP_EXPIRED_MESSAGE), 400
    return _message(
        "Form not accepted",
        "The form expired or was sent from another site, so nothing was changed. "
        "Reload the page and send the form again.",
        400,
    )


@bp.app_errorhandler(NotFound)
def not_found(exc: NotFound):
    return _message("Page not found", "No page exists at this address: check the link, or go to the sign-up page.", 404)
