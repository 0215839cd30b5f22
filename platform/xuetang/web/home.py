"""The home page: for a visitor, the public home (published notices, sign-in, verification); for
a signed-in account, one section per role it holds."""

from flask import Blueprint
from flask_login import current_user

from xuetang.services import notices
from xuetang.services.overview import home_page
from xuetang.web import render

bp = Blueprint("home", __name__)

PUBLIC_NOTICES = 20  # the latest published notices on the public home; /notices/ has the rest


@bp.route("/")
def index():
    """Public home for a visitor; each role's home, in one page, for a signed-in account."""
    if not current_user.is_authenticated:
        return render("home/public.html", notices=notices.published(limit=PUBLIC_NOTICES))
    return render("home/index.html", **home_page(current_user))
